package serve

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one server's Prometheus metrics (docs/protocols.md#metrics), shared
// by every endpoint it serves and told apart by the endpoint label.
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rows        *prometheus.CounterVec
	predictions *prometheus.CounterVec
	inflight    *prometheus.GaugeVec
	authFail    *prometheus.CounterVec
	ignored     *prometheus.CounterVec
	modelInfo   *prometheus.GaugeVec
	logDropped  prometheus.Counter

	handler http.Handler
}

// NewMetrics makes a registry with the serving metrics plus the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlflow_serve_requests_total", Help: "Requests answered, by endpoint, protocol, route and status code.",
		}, []string{"endpoint", "protocol", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mlflow_serve_request_duration_seconds", Help: "Time from request start to the answer written, scoring routes.",
			// Scoring takes microseconds here; the default buckets start at 5 ms.
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
		}, []string{"endpoint", "protocol"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlflow_serve_rows_total", Help: "Rows scored.",
		}, []string{"endpoint"}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlflow_serve_predictions_total", Help: "Predicted labels by class (classification).",
		}, []string{"endpoint", "class"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlflow_serve_inflight_requests", Help: "Scoring requests being served.",
		}, []string{"endpoint"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlflow_serve_auth_failures_total", Help: "Requests refused for a missing or wrong key.",
		}, []string{"endpoint"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlflow_serve_ignored_columns_total", Help: "Columns the model does not have, ignored (once per request that sent them).",
		}, []string{"endpoint"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlflow_serve_model_info", Help: "The model an endpoint serves (value 1).",
		}, []string{"endpoint", "name", "version", "digest"}),
		logDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mlflow_serve_request_log_dropped_total", Help: "Request log lines dropped because the writer fell behind.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.rows, m.predictions, m.inflight, m.authFail, m.ignored, m.modelInfo, m.logDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m
}

// LogDropped counts request log lines lost to a full queue.
func (m *Metrics) LogDropped() { m.logDropped.Inc() }

// ServeHTTP writes the Prometheus text exposition.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// epMetrics are one endpoint's metric children, resolved once so the hot
// path does no label lookups (WithLabelValues hashes and may allocate).
type epMetrics struct {
	m        *Metrics
	name     string
	rows     prometheus.Counter
	inflight prometheus.Gauge
	authFail prometheus.Counter
	ignored  prometheus.Counter
	duration [4]prometheus.Observer // by protocol

	mu       sync.RWMutex
	requests map[reqKey]prometheus.Counter
	info     []string // current model_info labels
	classes  []prometheus.Counter
}

type reqKey struct {
	route string
	code  int
}

func (m *Metrics) endpoint(name string) *epMetrics {
	e := &epMetrics{
		m: m, name: name,
		rows:     m.rows.WithLabelValues(name),
		inflight: m.inflight.WithLabelValues(name),
		authFail: m.authFail.WithLabelValues(name),
		ignored:  m.ignored.WithLabelValues(name),
		requests: map[reqKey]prometheus.Counter{},
	}
	for p := protoAzure; p <= protoOther; p++ {
		e.duration[p] = m.duration.WithLabelValues(name, p.String())
	}
	return e
}

func (e *epMetrics) request(p protocol, route string, code int) {
	k := reqKey{route, code}
	e.mu.RLock()
	c := e.requests[k]
	e.mu.RUnlock()
	if c == nil {
		c = e.m.requests.WithLabelValues(e.name, p.String(), route, strconv.Itoa(code))
		e.mu.Lock()
		e.requests[k] = c
		e.mu.Unlock()
	}
	c.Inc()
}

// setModel points model_info and the per-class counters at l.
func (e *epMetrics) setModel(l *loaded) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.info != nil {
		e.m.modelInfo.DeleteLabelValues(e.info...)
	}
	e.info = []string{e.name, l.name, strconv.Itoa(l.version), l.digest}
	e.m.modelInfo.WithLabelValues(e.info...).Set(1)
	cs := make([]prometheus.Counter, len(l.classes))
	for i, c := range l.classes {
		cs[i] = e.m.predictions.WithLabelValues(e.name, c)
	}
	e.classes = cs
}

func (e *epMetrics) countPredictions(l *loaded, req *request, out []float64) {
	e.rows.Add(float64(req.rows))
	if l.nout < 2 {
		return
	}
	e.mu.RLock()
	cs := e.classes
	e.mu.RUnlock()
	if len(cs) != l.nout {
		return // a swap is in progress; its counters arrive with it
	}
	for r := 0; r < req.rows; r++ {
		cs[argmax(out[r*l.nout:(r+1)*l.nout])].Inc()
	}
}

// remove drops the endpoint's series (endpoint deleted).
func (e *epMetrics) remove() {
	e.mu.Lock()
	defer e.mu.Unlock()
	lbl := prometheus.Labels{"endpoint": e.name}
	e.m.requests.DeletePartialMatch(lbl)
	e.m.duration.DeletePartialMatch(lbl)
	e.m.rows.DeletePartialMatch(lbl)
	e.m.predictions.DeletePartialMatch(lbl)
	e.m.inflight.DeletePartialMatch(lbl)
	e.m.authFail.DeletePartialMatch(lbl)
	e.m.ignored.DeletePartialMatch(lbl)
	e.m.modelInfo.DeletePartialMatch(lbl)
}
