package automl

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// defaultMetric is Azure's default primary metric per task.
var defaultMetric = map[string]string{
	model.Classification: "accuracy",
	model.Regression:     "normalized_root_mean_squared_error",
}

// maxClasses bounds classification targets: more distinct labels than this is almost always a
// regression target or an ID given the wrong task.
const maxClasses = 200

// problem is the prepared learning problem: the frame's usable features and the encoded target.
type problem struct {
	task     string
	target   string
	metric   string
	features []string // usable feature columns, frame order
	inputs   []model.Input
	classes  []string  // classification labels in output order
	y        []float64 // class index or target value, per kept row
	strata   []int     // stratum per row: class, or y decile for regression
	frame    *tabular.Frame
	kept     []int // the given frame's row of each row here, when rows were dropped or sampled; else nil
	warnings []string
	yMin     float64
	yMax     float64
}

func (p *problem) k() int {
	if p.task == model.Classification {
		return len(p.classes)
	}
	return 1
}

func (p *problem) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// prepare checks the config against the data and builds the problem. Rows with a missing target
// are dropped (a warning); unusable columns are dropped (a warning each).
func prepare(f *tabular.Frame, cfg *Config) (*problem, error) {
	p := &problem{task: cfg.Task, target: cfg.Target}
	if p.target == "" {
		p.target = f.Target
	}
	if p.target == "" {
		return nil, fmt.Errorf("target: no target column given and the dataset declares none")
	}
	tc := f.Col(p.target)
	if tc == nil {
		names := make([]string, len(f.Columns))
		for i, c := range f.Columns {
			names[i] = c.Name
		}
		return nil, fmt.Errorf("target: column %q is not in the dataset (columns: %s)", p.target, strings.Join(names, ", "))
	}
	if p.task == "" {
		p.task = model.Regression
		if tc.Type != tabular.Numeric {
			p.task = model.Classification
		}
	}
	allowed := metrics.Primary(p.task)
	if allowed == nil {
		return nil, fmt.Errorf("task: %q is not a task (want classification or regression)", p.task)
	}
	p.metric = cfg.PrimaryMetric
	if p.metric == "" {
		p.metric = defaultMetric[p.task]
	}
	if !slices.Contains(allowed, p.metric) {
		if other := metrics.Task(p.metric); other != "" && other != p.task {
			return nil, fmt.Errorf("primary_metric: %q is a %s metric and does not fit task %s; allowed: %s", p.metric, other, p.task, strings.Join(allowed, ", "))
		}
		return nil, fmt.Errorf("primary_metric: %q is not a primary metric for task %s; allowed: %s", p.metric, p.task, strings.Join(allowed, ", "))
	}

	// Rows with a known target (listed only when some are not: on millions of rows the list
	// is a large transient beside the frame).
	dropped := 0
	for i := 0; i < f.Rows; i++ {
		if tc.Missing(i) {
			dropped++
		}
	}
	if dropped > 0 {
		p.warnf("dropped %d of %d rows whose target %q is missing", dropped, f.Rows, p.target)
	}
	if f.Rows-dropped < 2 {
		return nil, fmt.Errorf("target %q: %d rows with a value; need at least 2 to learn anything", p.target, f.Rows-dropped)
	}
	if dropped > 0 {
		keep := make([]int, 0, f.Rows-dropped)
		for i := 0; i < f.Rows; i++ {
			if !tc.Missing(i) {
				keep = append(keep, i)
			}
		}
		f = f.Subset(keep)
		p.kept = keep
	}
	p.frame = f
	tc = f.Col(p.target)
	n := f.Rows

	switch p.task {
	case model.Regression:
		if tc.Type != tabular.Numeric {
			for _, code := range tc.Codes {
				if code < 0 {
					continue
				}
				l := tc.Levels[code]
				if _, err := strconv.ParseFloat(l, 64); err != nil {
					return nil, fmt.Errorf("target: column %q has the value %q, which is not a number; task regression needs a numeric target (use task: classification for labels)", p.target, l)
				}
			}
			return nil, fmt.Errorf("target: column %q is %s; task regression needs a numeric target", p.target, tc.Type)
		}
		p.y = slices.Clone(tc.Num)
		p.yMin, p.yMax = math.Inf(1), math.Inf(-1)
		for i, v := range p.y {
			if math.IsInf(v, 0) {
				return nil, fmt.Errorf("target: column %q row %d is %v; regression needs finite values", p.target, i+1, v)
			}
			p.yMin, p.yMax = min(p.yMin, v), max(p.yMax, v)
		}
		if p.yMin == p.yMax {
			return nil, fmt.Errorf("target: column %q is constant (%v in all %d rows): there is nothing to learn", p.target, p.yMin, n)
		}
		p.strata = deciles(p.y)
	case model.Classification:
		// Rows are counted by code (or value) and spelled once per distinct one: a string per
		// row cost 144 MB beside a 9 M-row frame.
		key := func(i int) float64 { return float64(tc.Codes[i]) }
		spell := func(k float64) string { return tc.Levels[int32(k)] }
		if tc.Type == tabular.Numeric {
			key = func(i int) float64 { return tc.Num[i] }
			spell = func(k float64) string { return strconv.FormatFloat(k, 'g', -1, 64) }
		}
		keyCounts := map[float64]int{}
		for i := range n {
			keyCounts[key(i)]++
		}
		counts := map[string]int{}
		for k, c := range keyCounts {
			counts[spell(k)] += c
		}
		for l := range counts {
			p.classes = append(p.classes, l)
		}
		sortLabels(p.classes)
		if len(p.classes) == 1 {
			return nil, fmt.Errorf("target: column %q is constant (%q in all %d rows): a classifier needs at least 2 classes", p.target, p.classes[0], n)
		}
		if len(p.classes) > maxClasses {
			return nil, fmt.Errorf("target: column %q has %d distinct values, more than %d classes: use task: regression for a numeric target", p.target, len(p.classes), maxClasses)
		}
		idx := map[string]int{}
		for i, l := range p.classes {
			idx[l] = i
		}
		class := map[float64]int{}
		for k := range keyCounts {
			class[k] = idx[spell(k)]
		}
		p.y = make([]float64, n)
		p.strata = make([]int, n)
		for i := range n {
			c := class[key(i)]
			p.y[i] = float64(c)
			p.strata[i] = c
		}
		for _, l := range p.classes {
			if c := counts[l]; c == 1 {
				p.warnf("class %q of target %q has 1 row: it is never both trained on and validated", l, p.target)
			}
		}
	}

	for _, c := range f.Columns {
		if c.Name == p.target {
			continue
		}
		if why := unusable(c, n); why != "" {
			p.warnf("dropped column %q: %s", c.Name, why)
			continue
		}
		p.features = append(p.features, c.Name)
		p.inputs = append(p.inputs, input(c))
	}
	if len(p.features) == 0 {
		return nil, fmt.Errorf("dataset: no usable feature columns besides target %q", p.target)
	}
	return p, nil
}

// unusable says why a column cannot help (or would only memorise rows), or "". It reads each
// column once without a set of its values (on millions of rows that set cost seconds and
// hundreds of MB); only an ID-like column is checked for distinct values, stopping at the
// first repeat.
func unusable(c *tabular.Column, n int) string {
	present, varies := 0, false
	var first float64
	for i := 0; i < n; i++ {
		if c.Missing(i) {
			continue
		}
		v := cellValue(c, i)
		if present == 0 {
			first = v
		} else if v != first {
			varies = true
		}
		present++
	}
	switch {
	case present == 0:
		return "every value is missing"
	case !varies && present == n:
		return "it has one value in every row"
	case n >= 20 && present == n && (c.Type == tabular.Categorical || c.Type == tabular.Numeric && c.Integer) && allDistinct(c, n):
		return fmt.Sprintf("it looks like an ID (a distinct value in each of the %d rows)", n)
	}
	return ""
}

func cellValue(c *tabular.Column, i int) float64 {
	if c.Type == tabular.Numeric {
		return c.Num[i]
	}
	return float64(c.Codes[i])
}

// allDistinct reports whether the n rows of c (none missing) hold n distinct values.
func allDistinct(c *tabular.Column, n int) bool {
	if c.Type != tabular.Numeric && len(c.Levels) < n {
		return false
	}
	seen := make(map[float64]struct{}, min(n, 1<<16))
	for i := 0; i < n; i++ {
		v := cellValue(c, i)
		if _, dup := seen[v]; dup {
			return false
		}
		seen[v] = struct{}{}
	}
	return true
}

func input(c *tabular.Column) model.Input {
	in := model.Input{Name: c.Name}
	switch {
	case c.Type == tabular.Boolean:
		in.Type, in.Levels = "boolean", slices.Clone(c.Levels)
	case c.Type == tabular.Categorical:
		in.Type, in.Levels = "string", slices.Clone(c.Levels)
	case c.Integer:
		in.Type = "integer"
	default:
		in.Type = "number"
	}
	for i := range max(len(c.Num), len(c.Codes)) {
		if !c.Missing(i) {
			in.Example = cell(c, i)
			break
		}
	}
	return in
}

// cell is row i of c as a JSON value: a number, a category's spelling, or nil when missing.
func cell(c *tabular.Column, i int) any {
	if c.Missing(i) {
		return nil
	}
	switch {
	case c.Type != tabular.Numeric:
		return c.Levels[c.Codes[i]]
	case c.Integer && math.Abs(c.Num[i]) < 1<<53:
		return int64(c.Num[i])
	}
	return c.Num[i]
}

// sortLabels orders class labels numerically when all are numbers, else as strings (sklearn's
// np.unique order), so outputs are stable across files.
func sortLabels(ls []string) {
	nums := make(map[string]float64, len(ls))
	for _, l := range ls {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			slices.Sort(ls)
			return
		}
		nums[l] = v
	}
	slices.SortFunc(ls, func(a, b string) int { return cmp.Or(cmp.Compare(nums[a], nums[b]), strings.Compare(a, b)) })
}

// deciles assigns each row its y decile, ties by row order, for stratified regression folds.
func deciles(y []float64) []int {
	order := make([]int, len(y))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(y[a], y[b]) })
	s := make([]int, len(y))
	for rank, i := range order {
		s[i] = rank * 10 / len(y)
	}
	return s
}
