package gbdt

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// goldenData is small mixed data: two noisy numeric columns (with missing values), one
// categorical column carrying part of the signal, a 3-class label, its binary and regression
// versions, and uneven sample weights.
func goldenData(t *testing.T) (d *Dataset, y3, y2, yr, w []float64) {
	const n = 1200
	rng := rand.New(rand.NewPCG(3, 4))
	s := newSynth(n)
	a, b := make([]float64, n), make([]float64, n)
	c := make([]int32, n)
	y3, y2, yr, w = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		k := i % 3
		c[i] = int32(rng.IntN(6))
		a[i] = float64(k) + rng.NormFloat64()
		b[i] = float64(c[i]%3) + rng.NormFloat64()
		if i%13 == 0 {
			a[i] = math.NaN()
		}
		if c[i] == 5 && k > 0 {
			k = 2
		}
		y3[i] = float64(k)
		if k == 2 {
			y2[i] = 1
		}
		yr[i] = 2*a[i] - b[i] + float64(c[i]) + rng.NormFloat64()/4
		if math.IsNaN(yr[i]) {
			yr[i] = float64(c[i])
		}
		w[i] = 0.5 + float64(i%4)/2
	}
	s.num("a", a)
	s.num("b", b)
	s.cat("c", c, 6)
	return s.dataset(t), y3, y2, yr, w
}

// TestGoldenFits pins the exact model every training mode produces (sha256 of the JSON):
// refactoring Fit must not change a single bit of any model, since automl's seeds promise
// the same model for the same inputs. The digests were computed before Fit was split into
// its boosting and forest paths. Go fuses multiply-adds on arm64, ppc64 and s390x, which
// changes the last bits of floats, so the digests hold on amd64 only.
func TestGoldenFits(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("golden digests are for amd64 (other architectures fuse multiply-adds)")
	}
	d, y3, y2, yr, w := goldenData(t)
	rows := allRows(d.Rows())
	train, valid := StratifiedSplit(rows, y3, 0.2, true, 1)
	rtrain, rvalid := StratifiedSplit(rows, yr, 0.2, false, 1)
	tricky := func(loss string, classes int) Params {
		p := trickyParams()
		p.Loss, p.NumClass = loss, classes
		p.MaxIter = 40
		return p
	}
	forest := func(loss string, classes int) Params {
		p := ForestParams()
		p.Loss, p.NumClass = loss, classes
		p.MaxIter, p.Seed = 15, 9
		return p
	}
	cases := []struct {
		name         string
		y, w         []float64
		train, valid []int32
		p            Params
		want         string
	}{
		{"binary", y2, nil, train, valid, func() Params { p := DefaultParams(); p.MaxIter = 60; return p }(),
			"293aa71c195588a6"},
		{"binary bagged weighted", y2, w, train, valid, tricky("binary", 2),
			"3286130803e4a206"},
		{"multiclass bagged", y3, nil, train, valid, tricky("multiclass", 3),
			"61f32d7404fc261a"},
		{"multiclass depthwise", y3, w, train, nil, func() Params {
			p := tricky("multiclass", 3)
			p.DepthWise, p.MaxDepth, p.MaxLeaves, p.BaggingFraction = true, 3, 0, 1
			return p
		}(), "e2d74a2df8f3ce9a"},
		{"regression bagged", yr, nil, rtrain, rvalid, tricky("squared_error", 0),
			"0e31d8c61f67287f"},
		{"regression extra trees", yr, w, rtrain, nil, func() Params {
			p := tricky("squared_error", 0)
			p.ExtraTrees = true
			return p
		}(), "21b49e21b495a841"},
		{"forest binary", y2, nil, train, valid, forest("binary", 2),
			"5e7b7c77bd401e7c"},
		{"forest multiclass weighted", y3, w, train, nil, forest("multiclass", 3),
			"e7e7597b0beb91f5"},
		{"forest regression", yr, nil, rtrain, nil, func() Params {
			p := forest("squared_error", 0)
			p.FeatureFraction = 0.7
			return p
		}(), "994d5c04328494a6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Fit(t.Context(), d, c.y, c.w, c.train, c.valid, c.p)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(mustJSON(t, m))
			if got := hex.EncodeToString(sum[:8]); got != c.want {
				t.Errorf("model digest %s, want %s (%d iterations): the same data, params and seed now give a different model", got, c.want, m.Iterations())
			}
		})
	}
}
