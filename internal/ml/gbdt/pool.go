package gbdt

import "sync"

// job is work split into numbered tasks; a pointer receiver passed as a job allocates nothing,
// where a closure per call would.
type job interface{ do(kind, i int) }

type task struct {
	j       job
	kind, i int
}

// pool is a fixed set of goroutines fed by an unbuffered channel. Idle workers park in a
// channel receive and the caller parks in WaitGroup.Wait, so nothing spins: on a busy shared
// machine a fit costs only its share of the cores.
type pool struct {
	n  int
	ch chan task
	wg sync.WaitGroup
}

func newPool(workers int) *pool {
	p := &pool{n: workers}
	if workers > 1 {
		p.ch = make(chan task)
		for range workers {
			go func() {
				for t := range p.ch {
					t.j.do(t.kind, t.i)
					p.wg.Done()
				}
			}()
		}
	}
	return p
}

// run calls j.do(kind, i) for i in [0, n) and returns when all are done. Tasks must write
// disjoint memory; results then do not depend on which worker ran what.
func (p *pool) run(j job, kind, n int, inline bool) {
	if p.ch == nil || inline || n <= 1 {
		for i := range n {
			j.do(kind, i)
		}
		return
	}
	p.wg.Add(n)
	for i := range n {
		p.ch <- task{j, kind, i}
	}
	p.wg.Wait()
}

func (p *pool) close() {
	if p.ch != nil {
		close(p.ch)
	}
}
