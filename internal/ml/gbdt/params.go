package gbdt

import (
	"fmt"
	"math"
)

// Params configures one Fit. The zero value is not useful: start from DefaultParams.
type Params struct {
	Loss            string  // "binary", "multiclass", "squared_error"
	NumClass        int     // classes for binary/multiclass (2 for binary)
	LearningRate    float64 // 0.1
	MaxIter         int     // 100 boosting rounds (per class for multiclass); trees in Forest mode
	MaxLeaves       int     // 31; <= 0 = no limit (then MaxDepth or MinSamplesLeaf bound the tree)
	MaxDepth        int     // 0 = unlimited; >0 with DepthWise true gives XGBoost-like depth-wise growth
	DepthWise       bool
	MinSamplesLeaf  int     // 20
	MinHessian      float64 // 1e-3
	L2              float64 // 0
	FeatureFraction float64 // 1 (per tree)
	BaggingFraction float64 // 1 (per tree, without replacement)
	ExtraTrees      bool    // one random threshold per feature per node
	MaxCatToOnehot  int     // 4
	CatSmooth       float64 // 10
	CatL2           float64 // 10
	MaxCatThreshold int     // 32
	MinDataPerGroup int     // 100
	NIterNoChange   int     // 10 (early stopping patience, used when valid rows are given)
	Tol             float64 // 1e-7
	Forest          bool    // random-forest mode: bootstrap rows, sqrt(features) per node, no shrinkage, trees averaged
	Seed            uint64
	Workers         int // goroutines for histogram building; 0 = GOMAXPROCS. Workers block, never spin.
}

// DefaultParams are sklearn HistGradientBoosting's defaults (LightGBM's are the same numbers),
// for binary classification; set Loss and NumClass for other tasks.
func DefaultParams() Params {
	return Params{
		Loss:            "binary",
		NumClass:        2,
		LearningRate:    0.1,
		MaxIter:         100,
		MaxLeaves:       31,
		MinSamplesLeaf:  20,
		MinHessian:      1e-3,
		FeatureFraction: 1,
		BaggingFraction: 1,
		MaxCatToOnehot:  4,
		CatSmooth:       10,
		CatL2:           10,
		MaxCatThreshold: 32,
		MinDataPerGroup: 100,
		NIterNoChange:   10,
		Tol:             1e-7,
	}
}

// ForestParams are random-forest defaults on the same machinery: 200 bootstrapped trees,
// sqrt(features) per node, min 1 row per leaf but at most 4,096 leaves per tree (memory).
func ForestParams() Params {
	p := DefaultParams()
	p.Forest = true
	p.MaxIter = 200
	p.MaxLeaves = 4096
	p.MinSamplesLeaf = 1
	p.MinHessian = 0
	p.LearningRate = 1
	return p
}

func (p *Params) check() error {
	switch p.Loss {
	case "binary":
		if p.NumClass != 2 {
			return fmt.Errorf("gbdt: loss binary needs NumClass 2, got %d", p.NumClass)
		}
	case "multiclass":
		if p.NumClass < 2 {
			return fmt.Errorf("gbdt: loss multiclass needs NumClass >= 2, got %d", p.NumClass)
		}
	case "squared_error":
	default:
		return fmt.Errorf("gbdt: unknown loss %q (want binary, multiclass or squared_error)", p.Loss)
	}
	bad := func(name string, v any) error { return fmt.Errorf("gbdt: parameter %s = %v out of range", name, v) }
	switch {
	case p.MaxIter < 1:
		return bad("MaxIter", p.MaxIter)
	case !(p.LearningRate > 0) || math.IsInf(p.LearningRate, 0):
		return bad("LearningRate", p.LearningRate)
	case p.MaxLeaves == 1:
		return bad("MaxLeaves", p.MaxLeaves)
	case p.MaxDepth < 0:
		return bad("MaxDepth", p.MaxDepth)
	case p.MaxLeaves <= 0 && p.MaxDepth == 0 && p.MinSamplesLeaf < 1:
		return fmt.Errorf("gbdt: trees are unbounded: set MaxLeaves, MaxDepth or MinSamplesLeaf")
	case p.MinHessian < 0 || p.L2 < 0 || p.CatSmooth < 0 || p.CatL2 < 0:
		return fmt.Errorf("gbdt: MinHessian, L2, CatSmooth and CatL2 must be >= 0")
	case !(p.FeatureFraction > 0 && p.FeatureFraction <= 1):
		return bad("FeatureFraction", p.FeatureFraction)
	case !(p.BaggingFraction > 0 && p.BaggingFraction <= 1):
		return bad("BaggingFraction", p.BaggingFraction)
	case p.NIterNoChange < 1:
		return bad("NIterNoChange", p.NIterNoChange)
	}
	return nil
}
