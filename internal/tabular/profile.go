package tabular

import (
	"math"
	"runtime"
	"slices"
	"sync"
)

// TopN is how many values a categorical column's profile lists.
const TopN = 10

// Profile summarises a frame the way Azure ML's dataset profile does.
type Profile struct {
	Rows    int             `json:"rows"`
	Columns []ColumnProfile `json:"columns"`
	Target  string          `json:"target,omitempty"`
	// ClassBalance counts the target's values, most frequent first; empty
	// for a numeric target with many distinct values (regression).
	ClassBalance []ValueCount `json:"class_balance,omitempty"`
}

// ColumnProfile is one column's summary. The numeric fields are set for
// numeric columns with at least one value; Top for the others.
type ColumnProfile struct {
	Name     string       `json:"name"`
	Type     string       `json:"type"`
	Integer  bool         `json:"integer,omitempty"`
	Count    int          `json:"count"` // present (non-missing) values
	Missing  int          `json:"missing"`
	Distinct int          `json:"distinct"` // distinct present values
	Min      *float64     `json:"min,omitempty"`
	Max      *float64     `json:"max,omitempty"`
	Mean     *float64     `json:"mean,omitempty"`
	Std      *float64     `json:"std,omitempty"` // sample standard deviation (n-1), as pandas
	P25      *float64     `json:"p25,omitempty"` // quartiles, linear interpolation, as pandas
	P50      *float64     `json:"p50,omitempty"`
	P75      *float64     `json:"p75,omitempty"`
	Top      []ValueCount `json:"top,omitempty"`
}

// ValueCount is a value and how many rows hold it.
type ValueCount struct {
	Value    string  `json:"value"`
	Count    int     `json:"count"`
	Fraction float64 `json:"fraction"` // of the present values
}

// maxClasses bounds the class balance of an integer-valued numeric target:
// more distinct values than this is a regression target.
const maxClasses = 50

// Profile computes the frame's profile; columns are summarised in parallel.
func (f *Frame) Profile() *Profile {
	p := &Profile{Rows: f.Rows, Target: f.Target, Columns: make([]ColumnProfile, len(f.Columns))}
	balances := make([][]ValueCount, len(f.Columns))
	next := make(chan int, len(f.Columns))
	for i := range f.Columns {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), 4, len(f.Columns))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One scratch copy per worker, reused: a fresh copy per column
			// would pile up as garbage the size of the numeric columns
			// before the collector ran (the frame counts as live heap).
			var scratch []float64
			for i := range next {
				p.Columns[i], balances[i], scratch = profileColumn(f.Columns[i], scratch)
			}
		}()
	}
	wg.Wait()
	for i, c := range f.Columns {
		if c.Name == f.Target {
			p.ClassBalance = balances[i]
		}
	}
	return p
}

// profileColumn also returns every value's count for a categorical or
// boolean column, or a numeric one with few integral values (class balance).
func profileColumn(c *Column, scratch []float64) (ColumnProfile, []ValueCount, []float64) {
	cp := ColumnProfile{Name: c.Name, Type: c.Type.String(), Integer: c.Integer}
	if c.Type != Numeric {
		counts := make([]int, len(c.Levels))
		for _, code := range c.Codes {
			if code < 0 {
				cp.Missing++
			} else {
				counts[code]++
			}
		}
		cp.Count = len(c.Codes) - cp.Missing
		all := make([]ValueCount, 0, len(counts))
		for code, n := range counts {
			if n > 0 {
				all = append(all, ValueCount{Value: c.Levels[code], Count: n, Fraction: float64(n) / float64(cp.Count)})
			}
		}
		// Levels are in frequency order from the reader, but a boolean's
		// are false/true, and a filtered frame's may have drifted.
		slices.SortStableFunc(all, func(a, b ValueCount) int { return b.Count - a.Count })
		cp.Distinct = len(all)
		cp.Top = all[:min(TopN, len(all))]
		return cp, all, scratch
	}
	if cap(scratch) < len(c.Num) {
		scratch = make([]float64, 0, len(c.Num))
	}
	vals := scratch[:0]
	for _, v := range c.Num {
		if v == v {
			vals = append(vals, v)
		}
	}
	cp.Count = len(vals)
	cp.Missing = len(c.Num) - len(vals)
	if len(vals) == 0 {
		return cp, nil, vals
	}
	sortFloats(vals)
	// Kahan-free two-pass mean and variance: exact enough, and the sort
	// already costs more.
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	mean := sum / float64(len(vals))
	ss := 0.0
	for _, v := range vals {
		d := v - mean
		ss += d * d
	}
	// JSON has no Inf or NaN: a column holding "inf" gets no figure that
	// it makes infinite, rather than a profile that cannot be stored.
	ptr := func(v float64) *float64 {
		if math.IsInf(v, 0) || v != v {
			return nil
		}
		return &v
	}
	cp.Min, cp.Max, cp.Mean = ptr(vals[0]), ptr(vals[len(vals)-1]), ptr(mean)
	if len(vals) > 1 {
		cp.Std = ptr(math.Sqrt(ss / float64(len(vals)-1)))
	}
	cp.P25, cp.P50, cp.P75 = ptr(quantile(vals, 0.25)), ptr(quantile(vals, 0.5)), ptr(quantile(vals, 0.75))
	var classes []ValueCount
	for i := 0; i < len(vals); {
		j := i + 1
		for j < len(vals) && vals[j] == vals[i] {
			j++
		}
		cp.Distinct++
		if c.Integer && cp.Distinct <= maxClasses {
			classes = append(classes, ValueCount{Value: formatNum(vals[i]), Count: j - i, Fraction: float64(j-i) / float64(len(vals))})
		}
		i = j
	}
	if cp.Distinct > maxClasses {
		classes = nil
	}
	slices.SortStableFunc(classes, func(a, b ValueCount) int { return b.Count - a.Count })
	return cp, classes, vals
}

// quantile of sorted values with linear interpolation (pandas' default,
// numpy's "linear").
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// sortFloats sorts NaN-free values with an LSD radix sort on keys that
// order like the floats: sorting was most of the profile's time with
// pdqsort, and the byte passes where every key agrees (most of them for
// integer-valued or low-cardinality columns) are skipped.
func sortFloats(v []float64) {
	// The radix sort needs two more buffers the size of v: past a few
	// million values memory matters more than the time saved.
	if len(v) < 256 || len(v) > 1<<22 {
		slices.Sort(v)
		return
	}
	keys := make([]uint64, len(v))
	var counts [8][256]int
	for i, x := range v {
		b := math.Float64bits(x)
		if b>>63 == 1 {
			b = ^b
		} else {
			b |= 1 << 63
		}
		keys[i] = b
		for p := range 8 {
			counts[p][byte(b>>(8*p))]++
		}
	}
	tmp := make([]uint64, len(v))
	for p := range 8 {
		c := &counts[p]
		if c[byte(keys[0]>>(8*p))] == len(keys) {
			continue
		}
		sum := 0
		for i := range c {
			c[i], sum = sum, sum+c[i]
		}
		for _, k := range keys {
			d := byte(k >> (8 * p))
			tmp[c[d]] = k
			c[d]++
		}
		keys, tmp = tmp, keys
	}
	for i, b := range keys {
		if b>>63 == 1 {
			b &^= 1 << 63
		} else {
			b = ^b
		}
		v[i] = math.Float64frombits(b)
	}
}
