package automl

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Validation is the validation protocol: Folds-fold CV repeated Repeats times, or, when Holdout
// > 0, one split holding out that fraction. The zero value means "choose from the data size".
type Validation struct {
	Folds   int     `json:"folds,omitempty"`
	Repeats int     `json:"repeats,omitempty"`
	Holdout float64 `json:"holdout,omitempty"`
}

func (v Validation) String() string {
	if v.Holdout > 0 {
		return fmt.Sprintf("holdout %g", v.Holdout)
	}
	if v.Repeats > 1 {
		return fmt.Sprintf("%d-fold CV x %d repeats", v.Folds, v.Repeats)
	}
	return fmt.Sprintf("%d-fold CV", v.Folds)
}

// chooseValidation is docs/automl.md#validation: under 1,000 rows 10 folds × 3 repeats, up to 200,000
// rows 5 folds, above that 3.
func chooseValidation(n int) Validation {
	switch {
	case n < 1000:
		return Validation{Folds: 10, Repeats: 3}
	case n <= 200_000:
		return Validation{Folds: 5, Repeats: 1}
	}
	return Validation{Folds: 3, Repeats: 1}
}

// fold is one train/validation split. stop is a stratified 10 % of the training part used for
// early stopping and for choosing C, so the validation part stays unseen (honest OOF).
type fold struct {
	repeat int
	train  []int32 // training rows minus stop
	stop   []int32
	valid  []int32
}

// rng streams are keyed by purpose so no stream is ever shared in scheduling order.
const (
	streamFolds = iota + 1
	streamStop
	streamTrial
	streamSearch
)

func rng(seed uint64, purpose, a, b int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15*uint64(purpose), uint64(a)<<32|uint64(uint32(b))))
}

// byStratum is the rows of each stratum, in row order, and the strata, sorted.
func byStratum(strata []int) (map[int][]int32, []int) {
	groups := map[int][]int32{}
	var keys []int
	for i, s := range strata {
		if _, ok := groups[s]; !ok {
			keys = append(keys, s)
		}
		groups[s] = append(groups[s], int32(i))
	}
	slices.Sort(keys)
	return groups, keys
}

// makeFolds builds the splits from (seed, row order, strata) only. The number of folds is
// lowered to the smallest stratum with at least 2 rows when that is smaller (a class of 3 rows
// cannot appear in 5 validation parts); it is never below 2.
func makeFolds(strata []int, v Validation, seed uint64) ([]fold, Validation) {
	n := len(strata)
	groups, keys := byStratum(strata)
	if v.Holdout > 0 {
		valid := pick(groups, keys, v.Holdout, rng(seed, streamFolds, 0, 0))
		train := complement(n, valid)
		return []fold{withStop(fold{train: train, valid: valid}, strata, seed, 0)}, v
	}
	smallest := n
	for _, k := range keys {
		if c := len(groups[k]); c >= 2 && c < smallest {
			smallest = c
		}
	}
	if v.Folds > smallest {
		v.Folds = max(2, smallest)
	}
	if v.Folds > n {
		v.Folds = n
	}
	var out []fold
	for r := range max(1, v.Repeats) {
		assign := make([]int, n)
		offset := 0
		for _, key := range keys {
			rows := slices.Clone(groups[key])
			g := rng(seed, streamFolds, r, key)
			g.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			for i, row := range rows {
				assign[row] = (offset + i) % v.Folds
			}
			// Continue where this stratum stopped so small strata do not all land in fold 0.
			offset = (offset + len(rows)) % v.Folds
		}
		for k := range v.Folds {
			var train, valid []int32
			for i, a := range assign {
				if a == k {
					valid = append(valid, int32(i))
				} else {
					train = append(train, int32(i))
				}
			}
			out = append(out, withStop(fold{repeat: r, train: train, valid: valid}, strata, seed, r*v.Folds+k))
		}
	}
	return out, v
}

// withStop moves a stratified 10 % of f.train into f.stop.
func withStop(f fold, strata []int, seed uint64, id int) fold {
	groups := map[int][]int32{}
	var keys []int
	for _, r := range f.train {
		s := strata[r]
		if _, ok := groups[s]; !ok {
			keys = append(keys, s)
		}
		groups[s] = append(groups[s], r)
	}
	slices.Sort(keys)
	f.stop = pick(groups, keys, 0.1, rng(seed, streamStop, id, 0))
	f.train = minus(f.train, f.stop)
	return f
}

// pick draws round(frac·len) rows of each stratum (at least one from strata of 2 or more rows,
// never a whole stratum), sorted.
func pick(groups map[int][]int32, keys []int, frac float64, g *rand.Rand) []int32 {
	var out []int32
	for _, k := range keys {
		rows := slices.Clone(groups[k])
		m := int(frac*float64(len(rows)) + 0.5)
		if m == 0 && len(rows) >= 2 {
			m = 1
		}
		if m >= len(rows) {
			m = len(rows) - 1
		}
		g.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		out = append(out, rows[:m]...)
	}
	slices.Sort(out)
	return out
}

func complement(n int, rows []int32) []int32 {
	in := make([]bool, n)
	for _, r := range rows {
		in[r] = true
	}
	out := make([]int32, 0, n-len(rows))
	for i := range n {
		if !in[i] {
			out = append(out, int32(i))
		}
	}
	return out
}

func minus(a, b []int32) []int32 {
	drop := make(map[int32]bool, len(b))
	for _, r := range b {
		drop[r] = true
	}
	out := make([]int32, 0, len(a)-len(b))
	for _, r := range a {
		if !drop[r] {
			out = append(out, r)
		}
	}
	return out
}
