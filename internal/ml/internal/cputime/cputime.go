// Package cputime adds CPU time per op to benchmarks. On a shared, loaded machine wall time
// mostly measures waiting for a core; the process's CPU time (user and system, every
// goroutine, the GC included) measures the work, so before/after comparisons stay readable.
package cputime

import "testing"

// Report starts counting; call it just before the b.Loop loop and call what it returns after
// (defer cputime.Report(b)()). It adds "cpu-ns/op", or nothing where the platform cannot tell.
func Report(b *testing.B) func() {
	start, ok := now()
	return func() {
		if end, ok2 := now(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
