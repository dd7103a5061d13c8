package gbdt

import (
	"math"
	"math/rand/v2"
	"slices"
)

// EarlyStoppingRows is sklearn's threshold for early_stopping="auto": above it, a fit holds out
// a validation split for early stopping.
const EarlyStoppingRows = 10_000

// EarlyStoppingSplit is sklearn HistGradientBoosting's automatic early-stopping split: with more
// than EarlyStoppingRows rows, 10 % go to validation (stratified by class when classification);
// otherwise all rows train and valid is nil.
func EarlyStoppingSplit(rows []int32, y []float64, classification bool, seed uint64) (train, valid []int32) {
	if len(rows) <= EarlyStoppingRows {
		return slices.Clone(rows), nil
	}
	return StratifiedSplit(rows, y, 0.1, classification, seed)
}

// StratifiedSplit holds out about frac of rows: per class when classification (each class
// keeps at least one training row), else uniformly. Both results are sorted; they depend only on
// (rows, y, frac, seed).
func StratifiedSplit(rows []int32, y []float64, frac float64, classification bool, seed uint64) (train, valid []int32) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	groups := map[float64][]int32{}
	var keys []float64
	if classification {
		for _, r := range rows {
			v := y[r]
			if _, ok := groups[v]; !ok {
				keys = append(keys, v)
			}
			groups[v] = append(groups[v], r)
		}
		slices.Sort(keys)
	} else {
		keys = []float64{0}
		groups[0] = slices.Clone(rows)
	}
	for _, key := range keys {
		g := groups[key]
		slices.Sort(g)
		n := int(math.Round(frac * float64(len(g))))
		n = min(n, len(g)-1)
		for i := 0; i < n; i++ {
			j := i + rng.IntN(len(g)-i)
			g[i], g[j] = g[j], g[i]
		}
		valid = append(valid, g[:max(n, 0)]...)
		train = append(train, g[max(n, 0):]...)
	}
	slices.Sort(train)
	slices.Sort(valid)
	return train, valid
}
