// Package loadgen is the HTTP load generator behind the benchmark step and
// `mlflow bench`.
//
// Two modes. Closed loop (Rate 0): Concurrency workers each send a request,
// wait for its answer and send the next, until Requests are done or
// Duration has passed, as ab and hey do; latency runs from the send. Open
// loop (Rate > 0): request i is due at start + i/Rate, whatever happened to
// the ones before it. A request that a free worker sends on time is
// measured from its send; one that waited because every worker was still
// busy with the server is measured from its due time, as wrk2 and vegeta
// do: a server that stalls makes the requests queued behind the stall
// late, and their lateness is counted instead of hidden (coordinated
// omission), while the generator's own timer slack is not blamed on the
// server. Concurrency bounds the requests in flight.
//
// The client is a small HTTP/1.1 one, not net/http: the request bytes are
// built once, and every answer is parsed in place by one parser (parse.go)
// that reads only the status line and the framing, so the generator spends
// its CPU on the wire rather than on allocation, which is what lets it
// keep up with wrk on the cores it shares with the server under test
// (bench/loadgen/run.sh measures that). The closed loop over kept-alive
// http:// connections, wrk's case, runs on Linux as wrk does: event loops
// over non-blocking sockets (loop_linux.go). The rest (no keepalive, the
// open loop, https, other systems) runs a goroutine per connection over
// net.Conn (client.go).
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Defaults, each with its reason.
const (
	// DefaultTimeout bounds one request, connect included: ab's -s default.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxDuration bounds a run given only a request count, so that
	// a server answering one request a minute cannot hold a step for hours.
	DefaultMaxDuration = 10 * time.Minute
	// maxLatency is the histogram's ceiling: an open-loop request can be
	// late by the whole run, and no run is meant to last an hour; longer
	// values are recorded as the ceiling.
	maxLatency = time.Hour
)

// Config is one load test. The zero value is not runnable: a run must be
// bounded, by Requests or Duration (and Rate needs Duration).
type Config struct {
	URL    string
	Method string // default POST with a Body, GET without
	Body   []byte
	// Header is sent with every request; a Host header replaces the URL's.
	Header http.Header
	// Requests stops a closed-loop run after that many requests.
	Requests int
	// Duration stops a run that long after its measured part started.
	Duration time.Duration
	// Concurrency is the number of workers (connections): requests in
	// flight at most.
	Concurrency int
	// Rate, when set, is the open loop's requests per second.
	Rate float64
	// KeepAlive reuses each worker's connection; without it every request
	// opens its own, as ab does by default.
	KeepAlive bool
	// Warmup runs the same load first, for that long, and forgets it:
	// connections, caches and the server's JIT-less warm paths settle.
	Warmup time.Duration
	// TLS configures https:// targets (nil: the system's roots).
	TLS *tls.Config
	// Timeout bounds each request (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxDuration bounds a run given only Requests (DefaultMaxDuration).
	MaxDuration time.Duration
	// Progress, when set, is called about every ProgressEvery (default
	// 200ms) during the measured part, from a single goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a live view of a run.
type Progress struct {
	Done, Failures int64
	Elapsed        time.Duration
	// Total is the planned number of requests, 0 when the run is bounded
	// by time; Duration is the planned duration, 0 when bounded by count.
	Total    int64
	Duration time.Duration
}

// Result is what a run measured. Latencies are in microseconds.
type Result struct {
	// Requests counts every request that was sent and ended (answered or
	// failed); Successes those answered 2xx.
	Requests, Successes int64
	// Failures are requests without a 2xx answer: a non-2xx status (in
	// Status) or no answer at all (in Errors, by kind).
	Failures int64
	Status   map[int]int64
	Errors   map[string]int64
	// Bytes counts every byte received, headers included; BodyBytes the
	// bodies only; Sent every byte written.
	Bytes, BodyBytes, Sent int64
	// DocLength is the first answer's body length and LengthErrors the
	// answers whose body differs from it: what ab reports as "Document
	// Length" and counts as "Length" failures.
	DocLength, LengthErrors int64
	// KeepAliveRequests were sent on a connection that was already open.
	KeepAliveRequests int64
	Elapsed           time.Duration
	// Latency holds the latency of every answered request, in µs.
	Latency *hdrhistogram.Histogram
}

// Validate checks the options a user could get wrong; its errors name the
// option as the benchmark step and ab spell it.
func (c *Config) Validate() error {
	var errs []string
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, "no URL")
	case err != nil:
		errs = append(errs, fmt.Sprintf("URL %q: %v", c.URL, err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Sprintf("URL %q: want http:// or https://", c.URL))
	case u.Host == "":
		errs = append(errs, fmt.Sprintf("URL %q has no host", c.URL))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Sprintf("concurrency %d: want 1 or more", c.Concurrency))
	}
	if c.Requests < 0 {
		errs = append(errs, fmt.Sprintf("requests %d: want 1 or more", c.Requests))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"duration", c.Duration}, {"warmup", c.Warmup}, {"timeout", c.Timeout}, {"max duration", c.MaxDuration}} {
		if d.v < 0 {
			errs = append(errs, fmt.Sprintf("%s %v: must not be negative", d.name, d.v))
		}
	}
	switch {
	case c.Rate < 0:
		errs = append(errs, fmt.Sprintf("rate %v: want more than 0 requests per second", c.Rate))
	case c.Rate > 0 && c.Requests > 0:
		errs = append(errs, "rate and requests exclude each other: an open-loop run is rate × duration")
	case c.Rate > 0 && c.Duration == 0:
		errs = append(errs, "rate needs a duration")
	case c.Requests == 0 && c.Duration == 0:
		errs = append(errs, "no bound: set requests or duration")
	}
	if c.Requests > 0 && c.Concurrency > c.Requests {
		errs = append(errs, fmt.Sprintf("concurrency %d is more than requests %d", c.Concurrency, c.Requests))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Run runs the load test. It returns when the run is over, or when ctx
// ends: then with what was measured so far and ctx's error, so that a
// user who interrupts still sees a report.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	t, err := newTarget(c)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: c, target: t}
	r.workers = make([]*worker, c.Concurrency)
	for i := range r.workers {
		r.workers[i] = &worker{r: r}
	}
	// Cancellation must reach a worker blocked in a read: ending ctx puts
	// every open connection's deadline in the past.
	stop := context.AfterFunc(ctx, r.abort)
	defer stop()
	defer r.closeAll()

	if c.Warmup > 0 {
		r.phase(ctx, 0, c.Warmup)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
	}
	res := r.phase(ctx, int64(c.Requests), c.Duration)
	return res, context.Cause(ctx)
}

// runner is one run's shared state.
type runner struct {
	cfg     Config
	target  *target
	workers []*worker

	// One phase's counters; reset between warmup and measurement.
	next     atomic.Int64 // index of the next request to take
	done     atomic.Int64
	failures atomic.Int64
	docLen   atomic.Int64 // first body length + 1 (0: none yet)

	mu      sync.Mutex // guards hist
	hist    *hdrhistogram.Histogram
	aborted atomic.Bool

	// The event loops, when they serve the run (see startLoops): made
	// for the first phase, their connections kept for the next one, as
	// the workers' are.
	loops []*evLoop
}

// phase runs the workers until n requests (n > 0) or d has passed, and
// returns what they measured.
func (r *runner) phase(ctx context.Context, n int64, d time.Duration) *Result {
	r.next.Store(0)
	r.done.Store(0)
	r.failures.Store(0)
	r.docLen.Store(0)
	r.hist = hdrhistogram.New(1, int64(maxLatency/time.Microsecond), 3)
	start := time.Now()
	end := start.Add(d)
	if d == 0 {
		end = start.Add(r.cfg.MaxDuration)
	}
	p := &plan{n: n, start: start, end: end}
	if r.cfg.Rate > 0 {
		p.n = int64(r.cfg.Rate * d.Seconds())
		p.interval = float64(time.Second) / r.cfg.Rate
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		w.reset()
	}
	if !r.startLoops(ctx, p, &wg) {
		for _, w := range r.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.loop(ctx, p)
			}()
		}
	}
	stopProgress := r.progress(p, d)
	wg.Wait()
	stopProgress()
	res := &Result{Status: map[int]int64{}, Errors: map[string]int64{}, Latency: r.hist}
	res.Elapsed = time.Since(start)
	if l := r.docLen.Load(); l > 0 {
		res.DocLength = l - 1
	}
	for _, w := range r.workers {
		w.flush()
		res.Requests += w.requests
		res.Successes += w.successes
		res.Bytes += w.bytes
		res.BodyBytes += w.body
		res.Sent += w.sent
		res.LengthErrors += w.lengthErrors
		res.KeepAliveRequests += w.reused
		for k, v := range w.status {
			if v > 0 {
				res.Status[k] += v
			}
		}
		for k, v := range w.errs {
			res.Errors[k] += v
		}
	}
	res.Failures = res.Requests - res.Successes
	return res
}

func (r *runner) progress(p *plan, d time.Duration) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	every := r.cfg.ProgressEvery
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				r.cfg.Progress(Progress{
					Done: r.done.Load(), Failures: r.failures.Load(), Elapsed: time.Since(p.start),
					Total: p.n, Duration: d,
				})
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// abort ends every request in flight (ctx ended).
func (r *runner) abort() {
	r.aborted.Store(true)
	for _, w := range r.workers {
		w.mu.Lock()
		if w.conn != nil {
			w.conn.c.SetDeadline(time.Unix(1, 0))
		}
		w.mu.Unlock()
	}
}

func (r *runner) closeAll() {
	r.closeLoops()
	for _, w := range r.workers {
		w.mu.Lock()
		if w.conn != nil {
			w.conn.c.Close()
			w.conn = nil
		}
		w.mu.Unlock()
	}
}

// plan is one phase's bounds: n requests (0: no count), until end; in the
// open loop, request i is due at start + i·interval.
type plan struct {
	n        int64
	start    time.Time
	end      time.Time
	interval float64 // ns; 0 in the closed loop
}

// batch is how many latencies a worker keeps before taking the shared
// histogram's lock: the lock is then taken once per batch, not per request.
const batch = 128

// worker is one connection's loop and its private counters.
type worker struct {
	r *runner

	mu   sync.Mutex // guards conn against abort
	conn *conn

	lat                                            []int64
	requests, successes, bytes, body, sent, reused int64
	lengthErrors                                   int64
	status                                         *[1000]int64 // by code, 100..999: no map update per answer
	errs                                           map[string]int64
}

func (w *worker) reset() {
	w.lat = w.lat[:0]
	w.requests, w.successes, w.bytes, w.body, w.sent, w.reused, w.lengthErrors = 0, 0, 0, 0, 0, 0, 0
	w.status = new([1000]int64)
	w.errs = map[string]int64{}
}

func (w *worker) loop(ctx context.Context, p *plan) {
	r := w.r
	var timer *time.Timer
	var last time.Time // when the previous request ended
	for ctx.Err() == nil {
		i := r.next.Add(1) - 1
		if p.n > 0 && i >= p.n {
			return
		}
		var from time.Time
		if p.interval > 0 {
			from = p.start.Add(time.Duration(float64(i) * p.interval))
			if wait := time.Until(from); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
				// The worker was idle until the due time: how late its timer
				// fired (up to a millisecond; the runtime's poller sleeps in
				// whole milliseconds) is the generator's, not the server's.
				// A request taken after its due time, because every worker
				// was still waiting on the server, keeps the due time.
				from = time.Now()
			}
		} else {
			// The previous request's end is this one's start: one clock
			// read per request.
			if last.IsZero() {
				last = time.Now()
			}
			from = last
			if !from.Before(p.end) {
				return
			}
		}
		a := w.do(ctx, from)
		if ctx.Err() != nil {
			return // cut short by cancellation: neither a success nor a failure of the server
		}
		last = time.Now()
		w.record(a, last.Sub(from))
	}
}

// record counts one ended request.
func (w *worker) record(a answer, lat time.Duration) {
	r := w.r
	w.requests++
	w.bytes += a.bytes
	w.sent += a.sent
	if a.reused {
		w.reused++
	}
	if a.err != nil {
		w.errs[errKind(a.err)]++
		r.failures.Add(1)
		r.done.Add(1)
		return
	}
	w.body += a.body
	w.status[a.status]++
	if a.status >= 200 && a.status < 300 {
		w.successes++
	} else {
		r.failures.Add(1)
	}
	if !r.docLen.CompareAndSwap(0, a.body+1) && r.docLen.Load() != a.body+1 {
		w.lengthErrors++
	}
	us := int64(lat / time.Microsecond)
	w.lat = append(w.lat, max(us, 1))
	if len(w.lat) == batch {
		w.flush()
	}
	r.done.Add(1)
}

// flush moves the worker's latencies into the shared histogram.
func (w *worker) flush() {
	if len(w.lat) == 0 {
		return
	}
	h := w.r.hist
	top := h.HighestTrackableValue()
	w.r.mu.Lock()
	for _, v := range w.lat {
		h.RecordValue(min(v, top))
	}
	w.r.mu.Unlock()
	w.lat = w.lat[:0]
}
