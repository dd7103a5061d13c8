package tabular

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The expected figures come from pandas 1.5.3 on the same file:
// df.describe(), Series.nunique(), value_counts().
func TestProfileBankMatchesPandas(t *testing.T) {
	f, err := ReadFile(context.Background(), bankFile, ReadOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	p := f.Profile()
	byName := map[string]ColumnProfile{}
	for _, c := range p.Columns {
		byName[c.Name] = c
	}
	type num struct {
		min, max, mean, std, p25, p50, p75 float64
		distinct                           int
	}
	for name, want := range map[string]num{
		"age":           {17, 98, 39.99992412746586, 10.401565833630746, 32, 38, 47, 77},
		"duration":      {0, 4918, 258.42898330804246, 258.94557125386086, 102, 180, 320, 1391},
		"pdays":         {0, 999, 961.8605842185129, 188.40953730677884, 999, 999, 999, 26},
		"emp.var.rate":  {-3.4, 1.4, 0.0748103186646434, 1.5735844642076655, -1.8, 1.1, 1.4, 10},
		"euribor3m":     {0.634, 5.045, 3.6133433611532633, 1.7371359692080646, 1.344, 4.857, 4.961, 312},
		"cons.conf.idx": {-50.8, -26.9, -40.51795523520485, 4.6287431518491395, -42.7, -41.8, -36.4, 26},
	} {
		c := byName[name]
		if c.Type != "numeric" || c.Count != 26360 || c.Missing != 0 || c.Distinct != want.distinct {
			t.Errorf("%s: %s count %d missing %d distinct %d", name, c.Type, c.Count, c.Missing, c.Distinct)
			continue
		}
		for _, g := range []struct {
			what      string
			got       *float64
			want, tol float64
		}{
			{"min", c.Min, want.min, 0}, {"max", c.Max, want.max, 0},
			{"mean", c.Mean, want.mean, 1e-9}, {"std", c.Std, want.std, 1e-9},
			{"p25", c.P25, want.p25, 1e-12}, {"p50", c.P50, want.p50, 1e-12}, {"p75", c.P75, want.p75, 1e-12},
		} {
			if g.got == nil || math.Abs(*g.got-g.want) > g.tol*math.Max(1, math.Abs(g.want)) {
				t.Errorf("%s %s: got %v, want %v", name, g.what, g.got, g.want)
			}
		}
	}
	for name, want := range map[string]struct {
		distinct int
		top      []ValueCount
	}{
		"job":       {12, []ValueCount{{"admin.", 6676, 0}, {"blue-collar", 5924, 0}, {"technician", 4362, 0}}},
		"education": {8, []ValueCount{{"university.degree", 7781, 0}, {"high.school", 6020, 0}, {"basic.9y", 3932, 0}}},
	} {
		c := byName[name]
		if c.Type != "categorical" || c.Distinct != want.distinct || len(c.Top) < 3 {
			t.Errorf("%s: %+v", name, c)
			continue
		}
		for i, w := range want.top {
			if c.Top[i].Value != w.Value || c.Top[i].Count != w.Count {
				t.Errorf("%s top %d: %+v, want %+v", name, i, c.Top[i], w)
			}
		}
	}
	if len(p.ClassBalance) != 2 || p.ClassBalance[0] != (ValueCount{"no", 23406, 23406.0 / 26360}) || p.ClassBalance[1].Count != 2954 {
		t.Errorf("class balance %+v", p.ClassBalance)
	}
}

func TestProfileSmall(t *testing.T) {
	f := mustRead(t, "x,y,b\n1,a,true\n,b,\n3,a,false\n10,a,true\n", ReadOptions{Target: "y"})
	p := f.Profile()
	x := p.Columns[0]
	// Quartiles of 1, 3, 10 by linear interpolation; sample std.
	if x.Count != 3 || x.Missing != 1 || *x.P25 != 2 || *x.P50 != 3 || *x.P75 != 6.5 || math.Abs(*x.Std-math.Sqrt(67.0/3)) > 1e-12 {
		t.Errorf("x: %+v", x)
	}
	b := p.Columns[2]
	if b.Type != "boolean" || b.Count != 3 || b.Missing != 1 || b.Top[0] != (ValueCount{"true", 2, 2.0 / 3}) {
		t.Errorf("b: %+v", b)
	}
	if len(p.ClassBalance) != 2 || p.ClassBalance[0].Value != "a" || p.ClassBalance[0].Count != 3 {
		t.Errorf("balance %+v", p.ClassBalance)
	}
	// An integer numeric target with few values gets a class balance too.
	g := mustRead(t, "x,y\n1,0\n2,1\n3,1\n", ReadOptions{Target: "y"}).Profile()
	if len(g.ClassBalance) != 2 || g.ClassBalance[0] != (ValueCount{"1", 2, 2.0 / 3}) {
		t.Errorf("numeric balance %+v", g.ClassBalance)
	}
	r := mustRead(t, "x,y\n1,0.5\n2,1.5\n3,1\n", ReadOptions{Target: "y"}).Profile()
	if len(r.ClassBalance) != 0 {
		t.Errorf("regression target has a class balance %+v", r.ClassBalance)
	}
}

func TestProfileInfinite(t *testing.T) {
	p := mustRead(t, "x,y\n1,a\ninf,b\n-3,a\n", ReadOptions{}).Profile()
	x := p.Columns[0]
	if x.Type != "numeric" || x.Max != nil || x.Mean != nil || x.Min == nil || *x.Min != -3 || x.Count != 3 {
		t.Errorf("x: %+v", x)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Errorf("profile does not marshal: %v", err)
	}
}

func TestSortFloats(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 300, 5000} {
		v := make([]float64, n)
		for i := range v {
			switch i % 4 {
			case 0:
				v[i] = float64(rng.IntN(100))
			case 1:
				v[i] = -rng.Float64() * 1e6
			case 2:
				v[i] = math.Copysign(0, -1)
			default:
				v[i] = rng.NormFloat64() * 1e-300
			}
		}
		if n > 10 {
			v[3], v[5] = math.Inf(1), math.Inf(-1)
		}
		want := slices.Clone(v)
		slices.Sort(want)
		sortFloats(v)
		for i := range v {
			// -0 and 0 compare equal; the radix order puts -0 first, fine
			// for quantiles.
			if v[i] != want[i] {
				t.Fatalf("n=%d: at %d got %v want %v", n, i, v[i], want[i])
			}
		}
	}
}
