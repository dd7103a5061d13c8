// Package gbdt is the histogram gradient-boosted tree learner (and its random-forest mode) behind
// AutoML: label-free binning shared by every trial, leaf-wise growth with histogram subtraction,
// native categorical splits, learned missing directions, and a compact tree format whose
// inference needs no binning (docs/automl.md#gbdt, docs/model-format.md).
package gbdt

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

const (
	missingBin = 255 // every feature's reserved bin for missing values (sklearn's last bin)
	// maxCatBins is how many categories get their own bin; rarer ones share one "other" bin.
	maxCatBins = 254
	// binSampleRows bounds the rows sampled for quantile edges (sklearn's subsample, LightGBM's
	// bin_construct_sample_cnt): quantiles of 200,000 rows are as good as of all of them.
	binSampleRows = 200_000
)

// Dataset is the binned, label-free training matrix, built once from all rows and shared
// read-only by every trial and fold (safe for concurrent Fits).
type Dataset struct {
	names []string
	rows  int
	bins  [][]uint8 // per feature, one bin per row; missingBin = missing
	cat   []bool
	nbins []int // non-missing bins in use per feature (bins 0..nbins-1)
	// Numeric: row x is in bin i iff edges[i-1] < x <= edges[i]; the last bin has no upper edge.
	edges [][]float64
	// Categorical: codeBin[c] is category code c's bin (missingBin when the code never occurs);
	// numCodes is the dictionary size, so codes >= numCodes are unseen at inference.
	codeBin  [][]uint8
	numCodes []int
	num      [][]float64 // raw numeric values (Row), nil for categorical
	codes    [][]int32   // raw categorical codes (Row), nil for numeric
}

// NewDataset bins the named features of f. maxBins (<= 255, 0 = 255) bounds the non-missing bins
// of a numeric feature; seed fixes the quantile sample when a feature has more distinct values
// than bins. Categorical and boolean columns get one bin per category for the most frequent
// maxBins-1 (at most 254) and one shared "other" bin for the rest.
func NewDataset(f *tabular.Frame, features []string, maxBins int, seed uint64) (*Dataset, error) {
	if maxBins <= 0 || maxBins > 255 {
		maxBins = 255
	}
	if maxBins < 2 {
		return nil, fmt.Errorf("gbdt: max bins %d: need at least 2", maxBins)
	}
	if len(features) == 0 {
		return nil, fmt.Errorf("gbdt: no features to bin")
	}
	d := &Dataset{
		names:    slices.Clone(features),
		rows:     f.Rows,
		bins:     make([][]uint8, len(features)),
		cat:      make([]bool, len(features)),
		nbins:    make([]int, len(features)),
		edges:    make([][]float64, len(features)),
		codeBin:  make([][]uint8, len(features)),
		numCodes: make([]int, len(features)),
		num:      make([][]float64, len(features)),
		codes:    make([][]int32, len(features)),
	}
	seen := map[string]bool{}
	for j, name := range features {
		if seen[name] {
			return nil, fmt.Errorf("gbdt: feature %q listed twice", name)
		}
		seen[name] = true
		c := f.Col(name)
		if c == nil {
			return nil, fmt.Errorf("gbdt: feature %q: no such column", name)
		}
		switch c.Type {
		case tabular.Numeric:
			if len(c.Num) != f.Rows {
				return nil, fmt.Errorf("gbdt: feature %q: %d values for %d rows", name, len(c.Num), f.Rows)
			}
			d.num[j] = c.Num
			d.edges[j] = numericEdges(c.Num, maxBins, rand.New(rand.NewPCG(seed, uint64(j)+1)))
			d.nbins[j] = len(d.edges[j]) + 1
			d.bins[j] = binNumeric(c.Num, d.edges[j])
		case tabular.Categorical, tabular.Boolean:
			if len(c.Codes) != f.Rows {
				return nil, fmt.Errorf("gbdt: feature %q: %d codes for %d rows", name, len(c.Codes), f.Rows)
			}
			d.cat[j] = true
			d.codes[j] = c.Codes
			nc := len(c.Levels)
			for _, code := range c.Codes {
				if int(code) >= nc {
					return nil, fmt.Errorf("gbdt: feature %q: code %d outside its %d levels", name, code, nc)
				}
			}
			d.numCodes[j] = nc
			d.codeBin[j], d.nbins[j] = categoryBins(c.Codes, nc, min(maxBins-1, maxCatBins))
			bins := make([]uint8, f.Rows)
			for i, code := range c.Codes {
				if code < 0 {
					bins[i] = missingBin
				} else {
					bins[i] = d.codeBin[j][code]
				}
			}
			d.bins[j] = bins
		default:
			return nil, fmt.Errorf("gbdt: feature %q: unsupported column type %v", name, c.Type)
		}
	}
	return d, nil
}

// numericEdges returns the upper bin edges (all but the last bin's): midpoints between distinct
// values when they fit, else midpoint quantiles of a seeded sample, deduplicated (sklearn binning.py).
func numericEdges(v []float64, maxBins int, rng *rand.Rand) []float64 {
	present := make([]float64, 0, len(v))
	for _, x := range v {
		// Infinities still bin (to the first or last bin) but must not become edges: JSON has no Inf.
		if x == x && !math.IsInf(x, 0) {
			present = append(present, x)
		}
	}
	if len(present) == 0 {
		return nil
	}
	if len(present) > binSampleRows {
		// Partial Fisher-Yates: the first binSampleRows entries become a uniform sample.
		for i := 0; i < binSampleRows; i++ {
			k := i + rng.IntN(len(present)-i)
			present[i], present[k] = present[k], present[i]
		}
		present = present[:binSampleRows]
	}
	slices.Sort(present)
	distinct := slices.Compact(slices.Clone(present))
	if len(distinct) <= maxBins {
		edges := make([]float64, len(distinct)-1)
		for i := range edges {
			edges[i] = distinct[i] + (distinct[i+1]-distinct[i])/2
		}
		return edges
	}
	n := len(present)
	edges := make([]float64, 0, maxBins-1)
	for q := 1; q < maxBins; q++ {
		pos := float64(q) / float64(maxBins) * float64(n-1)
		lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
		e := present[lo] + (present[hi]-present[lo])/2
		// A maximum edge would leave the last bin empty; so would a duplicate.
		if e >= distinct[len(distinct)-1] || (len(edges) > 0 && e <= edges[len(edges)-1]) {
			continue
		}
		edges = append(edges, e)
	}
	return edges
}

func binNumeric(v []float64, edges []float64) []uint8 {
	bins := make([]uint8, len(v))
	for i, x := range v {
		bins[i] = numericBin(x, edges)
	}
	return bins
}

// numericBin is the smallest i with x <= edges[i] (len(edges) when none), missingBin for NaN.
func numericBin(x float64, edges []float64) uint8 {
	if x != x {
		return missingBin
	}
	lo, hi := 0, len(edges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if edges[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return uint8(lo)
}

// categoryBins gives the keep most frequent codes a bin each (ties by code, so by the dictionary's
// own order) and the rest one shared bin; codes that never occur map to missingBin.
func categoryBins(codes []int32, numCodes, keep int) ([]uint8, int) {
	count := make([]int, numCodes)
	for _, c := range codes {
		if c >= 0 {
			count[c]++
		}
	}
	order := make([]int, 0, numCodes)
	for c, n := range count {
		if n > 0 {
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(count[b], count[a]) })
	codeBin := make([]uint8, numCodes)
	for c := range codeBin {
		codeBin[c] = missingBin
	}
	nb := 0
	for r, c := range order {
		if r < keep {
			codeBin[c] = uint8(r)
			nb = r + 1
		} else {
			codeBin[c] = uint8(keep)
			nb = keep + 1
		}
	}
	return codeBin, nb
}

// Rows is the number of rows (all of the frame's, whatever subset a Fit trains on).
func (d *Dataset) Rows() int { return d.rows }

// Features lists the feature names in the order Row and Model.Predict use.
func (d *Dataset) Features() []string { return slices.Clone(d.names) }

// Categorical reports whether feature j is categorical (its values are category codes).
func (d *Dataset) Categorical(j int) bool { return d.cat[j] }

// Row writes row i's raw feature values into x (len >= number of features): the numeric value,
// or the category code as float64; NaN when missing.
func (d *Dataset) Row(i int, x []float64) {
	for j := range d.names {
		if d.cat[j] {
			c := d.codes[j][i]
			if c < 0 {
				x[j] = math.NaN()
			} else {
				x[j] = float64(c)
			}
		} else {
			x[j] = d.num[j][i]
		}
	}
}

// Bin returns the bin of row i in feature j (255 = missing), for tests and diagnostics.
func (d *Dataset) Bin(i, j int) uint8 { return d.bins[j][i] }
