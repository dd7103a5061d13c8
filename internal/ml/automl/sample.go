package automl

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Row subsampling for large data (docs/automl.md#large-data), as FLAML and Azure do: the
// search ranks configurations on a stratified sample whose size follows the budget and the
// width of the data, and the chosen members are refit on every row.
//
// The sample size is sampleCellsPerSecond cells per second of budget, read as rows of at
// least 10 features, and never below sampleMinRows. One GBDT-defaults fold fit ran about 4 M
// row-rounds per core-second on a 2-core machine (bank marketing's 20 features): at 1,000 rows
// per second, the portfolio's first configurations can each cover all folds within the half
// of the budget the search gets, which on the full 9 M rows of bench/automl/big.sh could not
// finish one. The floor keeps small budgets from searching on too few rows to rank
// configurations: at 30 s a 100,000-row sample still left time for GBDT defaults alone.
//
// Variables, not constants, so that a test can sample a small frame.
var (
	sampleMinRows        = 50_000
	sampleCellsPerSecond = 20_000.0
)

const (
	// sampleRefitShare is the part of the budget the search leaves for refitting on all rows
	// when it searched a sample: a member's refit then costs rows/sample times a fold fit.
	sampleRefitShare = 0.4
)

// streamSample keys the sample's draw apart from the folds'.
const streamSample = streamRefit + 1

// searchRows is how many rows the search may use at this budget; 0 means all (no deadline
// to follow, or the budget too small for the search to run anything but fast mode).
func searchRows(budget time.Duration, features int) int {
	if budget < FastBudget {
		return 0
	}
	return max(sampleMinRows, int(budget.Seconds()*sampleCellsPerSecond/float64(max(features, 10))))
}

// stratifiedSample draws about m of the rows, the same share of each stratum, from the seed
// alone; sorted, so the sample keeps the data's row order.
func stratifiedSample(strata []int, m int, seed uint64) []int32 {
	groups, keys := byStratum(strata)
	return pick(groups, keys, float64(m)/float64(len(strata)), rng(seed, streamSample, 0, 0))
}

// subset is p restricted to rows: the search's problem when it runs on a sample. Columns,
// classes, inputs and the target's range stay those of all rows.
func (p *problem) subset(rows []int32) *problem {
	q := *p
	idx := make([]int, len(rows))
	q.y = make([]float64, len(rows))
	q.strata = make([]int, len(rows))
	for i, r := range rows {
		idx[i] = int(r)
		q.y[i], q.strata[i] = p.y[r], p.strata[r]
	}
	q.frame = p.frame.Subset(idx)
	q.kept = idx
	if p.kept != nil {
		q.kept = make([]int, len(idx))
		for i, r := range idx {
			q.kept[i] = p.kept[r]
		}
	}
	q.warnings = slices.Clone(p.warnings)
	return &q
}

// fullDataset bins all rows for the refits of a search run on a sample. It is built once per
// bin count and shared by every member refit with it; release drops it after the last.
func (s *search) fullDataset(bins int) (*gbdt.Dataset, error) {
	s.dsMu.Lock()
	defer s.dsMu.Unlock()
	if d, ok := s.fullDS[bins]; ok {
		return d, nil
	}
	d, err := gbdt.NewDataset(s.whole.frame, s.whole.features, bins, s.cfg.Seed)
	if err != nil {
		return nil, err
	}
	s.fullDS[bins] = d
	return d, nil
}

// refitPlan orders a sampled search's members for refitting one at a time, largest weight
// first, and keeps those whose estimated time fits in left: a refit costs about one of its
// fold fits (in core-seconds: the trial's wall time × the fits run at once ÷ folds) times
// all rows over a fold's training rows. It returns the indices of mems to refit and the
// estimates, per member, in seconds of wall time on par cores.
func (s *search) refitPlan(mems []member, left time.Duration) ([]int, []float64) {
	est := make([]float64, len(mems))
	order := make([]int, len(mems))
	for i, m := range mems {
		order[i] = i
		est[i] = s.refitSeconds(m.t)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(mems[b].w, mems[a].w) })
	var plan []int
	sum := 0.0
	for _, i := range order {
		if sum+est[i] <= left.Seconds() {
			plan = append(plan, i)
			sum += est[i]
		}
	}
	// Members refit with the same bins follow each other, so each full binning is built once
	// and dropped after its last member.
	slices.SortStableFunc(plan, func(a, b int) int { return cmp.Compare(mems[a].t.spec.bins, mems[b].t.spec.bins) })
	return plan, est
}

// refitSeconds estimates t's refit on all rows, in seconds of wall time on every worker.
func (s *search) refitSeconds(t *trial) float64 { return s.refitOn(t, len(s.whole.y)) }

// refitOn estimates t's refit on rows rows, in seconds of wall time on every worker: one of
// its fold fits (in core-seconds: the trial's wall time × the fits run at once ÷ folds) times
// rows over a fold's training rows. A linear member refits on the sample.
func (s *search) refitOn(t *trial, rows int) float64 {
	par := float64(max(1, s.cfg.Parallel))
	folds := float64(max(1, t.folds()))
	perFold := t.seconds * min(par, folds) / folds
	if t.spec.algo == AlgoLinear {
		return perFold / par
	}
	trainRows := float64(len(s.folds[0].train) + len(s.folds[0].stop))
	return perFold * float64(rows) / trainRows / par
}

// settleRefit takes the decision whether refits on all rows can fit in the part of the budget
// kept for them, from the best trial so far: the member most likely to be refit. The search
// calls it after each trial and each halving bracket, so a later, slower winner is judged too.
// When the best trial's refit would not fit, no member will be refit on all rows, so the
// search takes that time back (it runs to the deadline of a search without a sample, returned
// as the context to go on with) and the members are refit on the sample as usual. From then
// on it keeps room for the best trial's refit on the sample, which the ordinary refit reserve
// does not: on 9 M rows a winner of 128 leaves needed 80 s of a 10-minute budget, and its
// refit, started 58 s before the end, was cut off, leaving its 3 fold models to serve. It logs
// each choice.
func (s *search) settleRefit(ctx context.Context) context.Context {
	t := s.best
	if s.outer == nil || t == nil || t.folds() == 0 {
		return ctx
	}
	if s.refitWhole {
		window := s.start.Add(s.cfg.Budget - refitMargin).Sub(s.deadline)
		est := s.refitSeconds(t)
		if est <= window.Seconds() {
			return ctx
		}
		s.log("refit on all %d rows would take about %.0fs (trial %d), more than the %.0fs kept for it: the search goes on for that time and the members are refit on the sample",
			len(s.whole.y), est, t.id, window.Seconds())
		s.refitWhole = false
		s.deadline, _ = s.outer.Deadline()
		ctx = s.outer
	}
	est := s.refitOn(t, len(s.p.y))
	end := s.start.Add(s.cfg.Budget - reserve(s.cfg.Budget) - time.Duration(est*float64(time.Second)))
	if !end.Before(s.deadline) {
		return ctx
	}
	s.log("the search ends at %.0fs, leaving about %.0fs to refit trial %d on the sample's %d rows",
		end.Sub(s.start).Seconds(), est, t.id, len(s.p.y))
	s.deadline = end
	ctx, cancel := context.WithDeadline(ctx, end)
	s.cancels = append(s.cancels, cancel)
	return ctx
}

// refitSampled refits a sampled search's members one after another, each with every worker,
// in refitPlan's order until end. A member left out, or whose refit fails or overruns, is
// refit on the sample instead when its estimate fits the time left (one model rather than
// its k fold models: k times cheaper to serve), else it keeps its fold models; the log says
// which. s.refitOnWhole records the members refit on every row.
func (s *search) refitSampled(ctx context.Context, mems []member, end time.Time) []foldModel {
	out := make([]foldModel, len(mems))
	plan, est := s.refitPlan(mems, time.Until(end))
	n := len(s.whole.y)
	for i, m := range mems {
		if !slices.Contains(plan, i) {
			s.log("refit of trial %d (%s) on all rows skipped: estimated %.0fs on all %d rows, %.0fs left",
				m.t.id, m.t.spec.algo, est[i], n, time.Until(end).Seconds())
		}
	}
	// The sample's binnings are not read again (fold models predict from their trees), and a
	// refit on all rows needs the room.
	s.dsMu.Lock()
	clear(s.ds)
	s.dsMu.Unlock()
	all, sample := allRows32(n), allRows32(len(s.p.y))
	begin := time.Now()
	done := 0
	s.refitOnWhole = map[int]bool{}
	for j, i := range plan {
		m := mems[i]
		rows, whole := all, m.t.spec.algo != AlgoLinear
		if !whole {
			rows = sample
		}
		fm, err := s.refitOne(ctx, m.t, rows, s.cfg.Parallel, whole)
		if err != nil {
			s.log("refit of trial %d (%s) on all rows not used: %v", m.t.id, m.t.spec.algo, err)
		} else {
			out[i] = fm
			s.refitOnWhole[m.t.id] = whole
			done++
		}
		if bins := m.t.spec.bins; j == len(plan)-1 || mems[plan[j+1]].t.spec.bins != bins {
			s.dsMu.Lock()
			delete(s.fullDS, bins)
			s.dsMu.Unlock()
		}
	}
	s.log("refit %d of %d members on all %d rows in %.1fs (the search ran on a sample of %d)", done, len(mems), n, time.Since(begin).Seconds(), len(s.p.y))
	for i, m := range mems {
		if out[i] != nil || ctx.Err() != nil {
			continue
		}
		est := s.refitSeconds(m.t) * float64(len(s.p.y)) / float64(n)
		if left := time.Until(end).Seconds(); est > left {
			s.log("trial %d (%s) keeps its fold models, fit on the sample: a refit on the sample would take about %.0fs, %.0fs left", m.t.id, m.t.spec.algo, est, left)
			continue
		}
		fm, err := s.refitOne(ctx, m.t, sample, s.cfg.Parallel, false)
		if err != nil {
			s.log("trial %d (%s) keeps its fold models, fit on the sample: its refit on the sample not used: %v", m.t.id, m.t.spec.algo, err)
			continue
		}
		out[i] = fm
		s.log("refit trial %d (%s) on the sample's %d rows instead", m.t.id, m.t.spec.algo, len(s.p.y))
	}
	return out
}

func allRows32(n int) []int32 {
	r := make([]int32, n)
	for i := range r {
		r[i] = int32(i)
	}
	return r
}

// noteSample records in the artifact that the search ran on a sample, and which members were
// refit on all rows: its metrics are out of fold on the sample only.
func (s *search) noteSample(a *model.Artifact, mems []member, refits []foldModel) {
	var whole, sample []string
	for i, m := range mems {
		id := strconv.Itoa(m.t.id)
		if refits[i] != nil && s.refitOnWhole[m.t.id] {
			whole = append(whole, id)
		} else {
			sample = append(sample, id)
		}
	}
	msg := fmt.Sprintf("the search ran on a stratified sample of %d of the %d rows (large data, docs/automl.md#large-data); the metrics are out of fold on the sample", len(s.p.y), len(s.whole.y))
	switch {
	case len(sample) == 0:
		msg += "; every member was refit on all rows"
	case len(whole) == 0:
		msg += "; no member was refit on all rows within the budget, so the model was fit on the sample only (a larger budget refits it)"
	default:
		msg += fmt.Sprintf("; refit on all rows: trial %s; fit on the sample only: trial %s", strings.Join(whole, ", "), strings.Join(sample, ", "))
	}
	s.p.warnf("%s", msg)
	a.Lineage.SampleRows = len(s.p.y)
}

// sampleMemory bounds a search on a sample to what it needs (dataBytes, the concurrent fold
// fits, one refit's working set on all rows) and sampleSlack, unless Config.Memory is lower.
// The data dominate; without a bound the collector let the heap grow to twice them: 2.7
// times the 9 M-row set's columnar size before any refit.
func (s *search) sampleMemory() {
	w, k := int64(len(s.whole.y)), int64(s.p.k())
	refit := w*k*8*3 + w*4*3 + 64<<20
	lim := s.dataBytes() + int64(s.cfg.Parallel)*s.fitBytes() + refit + sampleSlack
	if s.cfg.Memory == 0 || lim < s.cfg.Memory {
		s.log("memory: %s for a search on a sample (the data ≈ %s in memory)", FormatBytes(lim), FormatBytes(frameBytes(s.whole.frame)))
		s.cfg.Memory = lim
	}
}

// sampleSlack is what sampleMemory leaves above its estimate: the runtime, the candidates'
// models, the artifact being encoded.
const sampleSlack = 128 << 20

// frameBytes is the size of f's columns in memory.
func frameBytes(f *tabular.Frame) int64 {
	var b int64
	for _, c := range f.Columns {
		b += int64(len(c.Num))*8 + int64(len(c.Codes))*4
	}
	return b
}
