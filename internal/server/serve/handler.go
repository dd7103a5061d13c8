package serve

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/server/swaggerui"
)

// DefaultMaxBody bounds a request body. Azure's front door takes far more,
// but 4 MiB is thousands of rows; larger batches belong in a batch job.
const DefaultMaxBody = 4 << 20

// Defaults for Options.
const (
	DefaultMaxInflight = 4096
	DefaultTimeout     = 60 * time.Second
)

// Options configure a Handler. The zero value serves at the root with no
// auth, the double-encoded classic answer and its own metrics registry.
type Options struct {
	// Endpoint names the endpoint in metrics, logs and specs; the model
	// name when empty.
	Endpoint string
	// Prefix is the path the handler is mounted at ("/endpoints/NAME");
	// specs use it so that "Try it out" posts to the right URL.
	Prefix string
	// ClassicResponse is ClassicString (default) or ClassicObject.
	ClassicResponse string
	MaxBody         int64
	// MaxInflight bounds concurrent scoring requests; more answer 429.
	// Default DefaultMaxInflight.
	MaxInflight int64
	// Timeout bounds a request from its start to scoring (a slow upload);
	// past it /score answers 408 and the others 504. Default DefaultTimeout.
	Timeout time.Duration
	Metrics *Metrics
	// Log receives one entry per request; nil logs nothing.
	Log *reqlog.Writer
	// Version is the mlflow version reported by /version and /v2.
	Version string
	// MaxRows bounds the rows of one request; more answer 413. Default
	// DefaultMaxRows.
	MaxRows int
	// StrictColumns refuses a request naming a column the model does not
	// have (400); by default such columns are ignored.
	StrictColumns bool
}

// Handler serves one endpoint. The model and the keys are swapped
// atomically, so a redeploy or a key rotation fails no request.
type Handler struct {
	opts     Options
	mux      *http.ServeMux
	model    atomic.Pointer[loaded]
	keys     atomic.Pointer[keyPair] // nil: auth off
	stopped  atomic.Bool
	inflight atomic.Int64
	met      *epMetrics
}

type keyPair struct{ primary, secondary []byte }

// New returns a handler with no model yet: scoring answers 503 until Swap.
func New(opts Options) *Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.ClassicResponse == "" {
		opts.ClassicResponse = ClassicString
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = DefaultMaxInflight
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	opts.Prefix = strings.TrimSuffix(opts.Prefix, "/")
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	h.met = opts.Metrics.endpoint(opts.Endpoint)
	h.routes()
	return h
}

// Swap installs m as the served model. In-flight requests finish on the
// model they started with.
func (h *Handler) Swap(m Model, inputs []Input) error {
	l, err := compile(m, inputs)
	if err != nil {
		return err
	}
	if h.opts.Endpoint == "" {
		h.opts.Endpoint = l.name
	}
	h.met.setModel(l)
	h.model.Store(l)
	return nil
}

// Model returns the served model's name, version and digest ("" when none).
func (h *Handler) Model() (name string, version int, digest string) {
	if l := h.model.Load(); l != nil {
		return l.name, l.version, l.digest
	}
	return "", 0, ""
}

// SetKeys turns key auth on with these keys; empty primary turns it off.
func (h *Handler) SetKeys(primary, secondary string) {
	if primary == "" {
		h.keys.Store(nil)
		return
	}
	h.keys.Store(&keyPair{[]byte(primary), []byte(secondary)})
}

// SetStopped makes scoring answer 503 (endpoint stopped) or serve again.
func (h *Handler) SetStopped(v bool) { h.stopped.Store(v) }

// Close drops the endpoint's metric series.
func (h *Handler) Close() { h.met.remove() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Healthy")
	})
	m.HandleFunc("POST /score", func(w http.ResponseWriter, r *http.Request) { h.score(w, r, protoAzure, "/score") })
	m.HandleFunc("GET /score", func(w http.ResponseWriter, r *http.Request) { h.score(w, r, protoAzure, "/score") })
	m.HandleFunc("OPTIONS /score", func(w http.ResponseWriter, r *http.Request) {
		h.cors(w)
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		w.WriteHeader(http.StatusOK)
	})
	m.HandleFunc("/score", h.methodNotAllowed(protoAzure, "GET, POST, OPTIONS"))
	m.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) { h.score(w, r, protoMLflow, "/invocations") })
	m.HandleFunc("/invocations", h.methodNotAllowed(protoMLflow, "POST"))
	for _, p := range []string{"/v2/models/{m}", "/v2/models/{m}/versions/{v}"} {
		m.HandleFunc("POST "+p+"/infer", func(w http.ResponseWriter, r *http.Request) { h.score(w, r, protoOIP, "/v2/infer") })
		m.HandleFunc(p+"/infer", h.methodNotAllowed(protoOIP, "POST"))
		m.HandleFunc("GET "+p, h.oipModel)
		m.HandleFunc("GET "+p+"/ready", h.oipModelReady)
	}
	serverMeta := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"name": "mlflow", "version": h.opts.Version, "extensions": []string{}})
	}
	// The OIP spec writes the server metadata path as /v2/ and clients
	// send both spellings.
	m.HandleFunc("GET /v2", serverMeta)
	m.HandleFunc("GET /v2/{$}", serverMeta)
	m.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"live": true})
	})
	m.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		ok := h.ready()
		writeJSON(w, map[bool]int{true: 200, false: 503}[ok], map[string]any{"ready": ok})
	})
	// No CORS on the specs: they are read without a key and hold the
	// model's schema and examples, and the page that needs them, /docs,
	// is served from the same origin.
	m.HandleFunc("GET /swagger.json", h.swaggerJSON)
	m.HandleFunc("GET /openapi.json", h.openapiJSON)
	m.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(swaggerui.Page(h.opts.Endpoint))
	})
	m.HandleFunc("GET /docs/{$}", func(w http.ResponseWriter, r *http.Request) {
		// A relative Location, resolved by the client against the URL it
		// asked for, keeps the mount's /endpoints/NAME prefix: http.Redirect
		// would make it absolute from URL.Path, which the mount stripped.
		loc := "../docs"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /docs/{file}", func(w http.ResponseWriter, r *http.Request) {
		swaggerui.Asset(w, r, r.PathValue("file"))
	})
	m.Handle("GET /metrics", h.opts.Metrics)
	m.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !h.ready() {
			http.Error(w, h.notReadyMsg(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	ping := func(w http.ResponseWriter, r *http.Request) {
		if !h.ready() {
			http.Error(w, h.notReadyMsg(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "\n")
	}
	m.HandleFunc("GET /ping", ping)
	m.HandleFunc("GET /health", ping)
	m.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, h.opts.Version)
	})
}

func (h *Handler) ready() bool { return h.model.Load() != nil && !h.stopped.Load() }

func (h *Handler) notReadyMsg() string {
	if h.stopped.Load() {
		return fmt.Sprintf("endpoint %s is stopped: deploy it again to serve", h.opts.Endpoint)
	}
	return "no model is loaded yet"
}

var (
	hdrAnyOrigin   = []string{"*"}
	hdrCORSMethods = []string{"GET, POST, OPTIONS"}
	hdrCORSHeaders = []string{"Authorization, Content-Type, x-request-id, x-ms-client-request-id"}
)

// cors lets a browser client on another origin (a Swagger UI run apart,
// as Azure's swagger.sh does, or a web app) call /score, the one route
// that needs it. Only while keys are on: the answer is then no more
// readable than the key makes it, whereas without auth any page a user
// opens could score through their browser and read the answers. The
// values are shared slices: no allocation per request.
func (h *Handler) cors(w http.ResponseWriter) {
	if h.keys.Load() == nil {
		return
	}
	hd := w.Header()
	hd["Access-Control-Allow-Origin"] = hdrAnyOrigin
	hd["Access-Control-Allow-Methods"] = hdrCORSMethods
	hd["Access-Control-Allow-Headers"] = hdrCORSHeaders
}

func (h *Handler) methodNotAllowed(p protocol, allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid, _ := requestID(w, r)
		w.Header().Set("Allow", allow)
		f := fail(405, "method "+r.Method+" is not allowed on "+r.URL.Path+": use "+allow)
		rec := outcome{status: f.status, err: f.msg, auth: "none"}
		rec.out = h.writeFailure(w, p, f)
		h.finish(r, p, routeOf(p), rid, &rec, start)
	}
}

func routeOf(p protocol) string {
	return [...]string{"/score", "/invocations", "/v2/infer", "other"}[p]
}

// outcome is what the log line and the metrics need about one request.
type outcome struct {
	status   int
	rows     int
	bytesIn  int64
	out      int
	auth     string
	err      string
	scored   bool
	duration time.Duration
}

// Shared header values: net/http never mutates them, so one slice each
// saves an allocation per request.
var (
	hdrJSON  = []string{"application/json"}
	hdrFalse = []string{"False"}
	hdrTrue  = []string{"True"}
)

// requestID echoes the caller's id (x-request-id or x-ms-request-id) or
// makes a UUID, and sets the x-ms id headers. An id over 100 characters
// is 431, as in azmlinfsrv.
func requestID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = r.Header.Get("X-Ms-Request-Id")
	}
	if len(id) > 100 {
		return "", false
	}
	if id == "" {
		id = newUUID()
	}
	ids := []string{id}
	hd := w.Header()
	hd["X-Ms-Request-Id"] = ids
	hd["X-Request-Id"] = ids
	if c := r.Header["X-Ms-Client-Request-Id"]; len(c) > 0 && len(c[0]) <= 100 {
		hd["X-Ms-Client-Request-Id"] = c[:1]
	} else {
		hd["X-Ms-Client-Request-Id"] = ids
	}
	return id, true
}

// newUUID is a random version-4 UUID from the runtime's per-thread
// generator: request ids need uniqueness, not secrecy.
func newUUID() string {
	a, b := rand.Uint64(), rand.Uint64()
	a = a&^(0xf<<12) | 4<<12
	b = b&^(0x3<<62) | 0x2<<62
	var buf [36]byte
	const hx = "0123456789abcdef"
	pos := 0
	put := func(v uint64, nibbles int) {
		for k := nibbles - 1; k >= 0; k-- {
			buf[pos] = hx[(v>>(4*uint(k)))&0xf]
			pos++
		}
	}
	put(a>>32, 8)
	buf[pos] = '-'
	pos++
	put(a>>16, 4)
	buf[pos] = '-'
	pos++
	put(a, 4)
	buf[pos] = '-'
	pos++
	put(b>>48, 4)
	buf[pos] = '-'
	pos++
	put(b, 12)
	return string(buf[:])
}

// authorize checks the bearer key against both keys in constant time.
func (h *Handler) authorize(r *http.Request) (string, bool) {
	kp := h.keys.Load()
	if kp == nil {
		return "none", true
	}
	v := r.Header.Get("Authorization")
	if v == "" {
		return "missing", false
	}
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(v, "bearer ")
	}
	if !ok || tok == "" {
		return "bad", false
	}
	// A read-only view of the header's bytes: no copy on the hot path.
	b := unsafe.Slice(unsafe.StringData(tok), len(tok))
	// Compare against both keys every time so timing does not tell which
	// matched.
	m1 := subtle.ConstantTimeCompare(b, kp.primary)
	m2 := 0
	if len(kp.secondary) > 0 {
		m2 = subtle.ConstantTimeCompare(b, kp.secondary)
	}
	if m1|m2 == 1 {
		return "ok", true
	}
	return "bad", false
}

var errTooLarge = errors.New("body too large")

// readBody reads at most limit bytes into buf.
func readBody(r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.ContentLength > limit {
		return buf, errTooLarge
	}
	buf = buf[:0]
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// contentType applies each protocol's content-type rule; csv reports
// MLflow's text/csv. MLflow's refusals are its scoring server's own
// text/plain answers, checked in its order (charset, parameters, type),
// since its clients and tests match on them.
func contentType(p protocol, ct string) (csv bool, f *failure) {
	if ct == "application/json" {
		return false, nil
	}
	if ct == "" && p == protoOIP {
		return false, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if p == protoMLflow {
		return mlflowContentType(ct, mt, params, err)
	}
	if err == nil && mt == "application/json" {
		return false, nil
	}
	return false, fail(415, "Expects Content-Type to be application/json")
}

func mlflowContentType(ct, mt string, params map[string]string, err error) (bool, *failure) {
	if err == nil {
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return false, &failure{415, "The scoring server only supports UTF-8", true}
		}
		var extra []string
		for k := range params {
			if k != "charset" {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			return false, &failure{415, "Unrecognized content type parameters: " + clip(strings.Join(extra, ", ")) + ". " + mlflowProtocolChange, true}
		}
		switch mt {
		case "application/json":
			return false, nil
		case "text/csv":
			return true, nil
		}
	}
	return false, &failure{415, "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '" + clip(ct) + "'.", true}
}

// mlflowProtocolChange follows MLflow's refusal of a content-type
// parameter: such requests come from MLflow 1.x clients, whose
// format=pandas-split became a body field in 2.0.
const mlflowProtocolChange = "IMPORTANT: the MLflow model scoring protocol changed in MLflow 2.0: " +
	"send application/json with one of the fields dataframe_split, dataframe_records, instances or inputs " +
	"(the format parameter of MLflow 1.x is gone)."

// failure is a refused request: the status and the message the protocol's
// error shape carries. plain marks MLflow's text/plain refusals (its 415s).
type failure struct {
	status int
	msg    string
	plain  bool
}

func fail(status int, msg string) *failure { return &failure{status: status, msg: msg} }

// score is the one scoring path of all three protocols: every refusal
// comes back from scoreOnce as a failure and is answered here, once.
func (h *Handler) score(w http.ResponseWriter, r *http.Request, p protocol, route string) {
	start := time.Now()
	h.met.inflight.Inc()
	defer h.met.inflight.Dec()
	n := h.inflight.Add(1)
	defer h.inflight.Add(-1)
	rec := outcome{auth: "none"}
	rid, f := h.scoreOnce(w, r, p, n, &rec, start)
	if f != nil {
		rec.status, rec.err = f.status, f.msg
		rec.out = h.writeFailure(w, p, f)
	}
	h.finish(r, p, route, rid, &rec, start)
}

// scoreOnce answers a good request and fills rec; a refused one returns
// its failure unanswered.
func (h *Handler) scoreOnce(w http.ResponseWriter, r *http.Request, p protocol, n int64, rec *outcome, start time.Time) (string, *failure) {
	rid, ok := requestID(w, r)
	if !ok {
		return "", fail(431, "request id longer than 100 characters")
	}
	if p == protoAzure {
		h.cors(w)
	}
	var authOK bool
	rec.auth, authOK = h.authorize(r)
	if !authOK {
		h.met.authFail.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.opts.Endpoint+`"`)
		if rec.auth == "missing" {
			return rid, fail(401, "no key: send Authorization: Bearer KEY")
		}
		return rid, fail(401, "invalid key")
	}
	if n > h.opts.MaxInflight {
		w.Header().Set("Retry-After", "1")
		return rid, fail(429, fmt.Sprintf("too many requests in flight (limit %d): retry later", h.opts.MaxInflight))
	}
	l := h.model.Load()
	if p == protoOIP {
		if f := h.oipServes(l, r); f != nil {
			return rid, f
		}
	}
	if l == nil || h.stopped.Load() {
		return rid, fail(503, h.notReadyMsg())
	}
	sc := getScratch()
	defer putScratch(sc)
	body, csv, f := h.body(r, p, sc, rec)
	if f != nil {
		return rid, f
	}
	fnStart := time.Now()
	if el := fnStart.Sub(start); el > h.opts.Timeout || r.Context().Err() != nil {
		status := 504
		if p == protoAzure {
			status = 408
		}
		return rid, fail(status, fmt.Sprintf("request timed out after %d ms (limit %d ms) before scoring", el.Milliseconds(), h.opts.Timeout.Milliseconds()))
	}
	var req request
	var err error
	if csv {
		req, err = l.decodeCSV(body, sc, h.decodeOpts())
	} else {
		req, err = l.decode(p, body, sc, h.decodeOpts())
	}
	if err != nil {
		f := fail(400, err.Error())
		var br *badRequest
		if errors.As(err, &br) && br.status != 0 {
			f.status = br.status
		}
		return rid, f
	}
	if n := len(req.ignored); n > 0 {
		h.met.ignored.Add(float64(n))
	}
	need := req.rows * l.nout
	if cap(sc.out) < need {
		sc.out = make([]float64, need)
	}
	out := sc.out[:need]
	l.predictRows(sc.x, out, req.rows)
	sc.resp = l.encode(sc.resp[:0], &req, out, h.opts.ClassicResponse)
	fnDur := time.Since(fnStart)
	hd := w.Header()
	hd["Content-Type"] = hdrJSON
	if p == protoAzure {
		hd["X-Ms-Run-Function-Failed"] = hdrFalse
		var b [24]byte
		hd["X-Ms-Run-Fn-Exec-Ms"] = []string{string(strconv.AppendFloat(b[:0], float64(fnDur.Microseconds())/1000, 'f', 3, 64))}
	}
	w.Write(sc.resp)
	rec.status, rec.rows, rec.out, rec.scored = 200, req.rows, len(sc.resp), true
	h.met.countPredictions(l, &req, out)
	return rid, nil
}

// oipServes refuses an OIP request for a model or version this endpoint
// does not serve.
func (h *Handler) oipServes(l *loaded, r *http.Request) *failure {
	name := r.PathValue("m")
	if l == nil || name != l.name && name != h.opts.Endpoint {
		return fail(404, "Model with name "+name+" does not exist.")
	}
	if v := r.PathValue("v"); v != "" && v != strconv.Itoa(l.version) {
		return fail(404, "Model with name "+name+" and version "+v+" does not exist.")
	}
	return nil
}

// body is the request's payload: Azure's GET /score query, or the POST
// body after the protocol's content-type rule and the size limit. csv
// reports MLflow's text/csv.
func (h *Handler) body(r *http.Request, p protocol, sc *scratch, rec *outcome) (body []byte, csv bool, f *failure) {
	if r.Method == http.MethodGet {
		// Azure's GET /score takes the inputs from the query: ?data=[...].
		v, ok := r.URL.Query()["data"]
		if !ok {
			return nil, false, fail(400, "A value is not provided for the 'data' parameter: GET /score?data=[...]")
		}
		sc.body = append(append(append(sc.body[:0], `{"data":`...), v[0]...), '}')
		return sc.body, false, nil
	}
	ct := r.Header.Get("Content-Type")
	csv, f = contentType(p, ct)
	if f != nil {
		return nil, false, f
	}
	body, err := readBody(r, h.opts.MaxBody, sc.body)
	sc.body = body
	rec.bytesIn = int64(len(body))
	switch {
	case errors.Is(err, errTooLarge):
		return nil, false, fail(413, fmt.Sprintf("request body is over the %d-byte limit", h.opts.MaxBody))
	case err != nil:
		return nil, false, fail(400, "reading the body: "+err.Error())
	}
	return body, csv, nil
}

// mlflowParams checks MLflow's "params" member: our models take no
// parameters, so MLflow's server would ignore its contents, but it refuses
// anything other than an object (or null) in its own words.
func (d *decoder) mlflowParams() error {
	s := &d.s
	c := s.peek()
	start := s.i
	if err := s.skip(1); err != nil {
		return err
	}
	kind := "float"
	switch {
	case c == '{' || c == 'n':
		return nil
	case c == '[':
		kind = "list"
	case c == '"':
		kind = "str"
	case c == 't' || c == 'f':
		kind = "bool"
	case !strings.ContainsAny(string(s.b[start:s.i]), ".eE"):
		kind = "int"
	}
	return badf("Parameters must be a dictionary. Got type '%s'.", kind)
}

// writeFailure answers f in the protocol's error shape and returns the
// size written.
func (h *Handler) writeFailure(w http.ResponseWriter, p protocol, f *failure) int {
	if f.plain {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(f.status)
		io.WriteString(w, f.msg)
		return len(f.msg)
	}
	var b []byte
	switch p {
	case protoAzure:
		if f.status >= 500 {
			w.Header()["X-Ms-Run-Function-Failed"] = hdrTrue
		}
		b = append(appendJSONString(append(b, `{"message": `...), f.msg), '}')
	case protoMLflow:
		// MLflow's error body; its stack_trace is the Python traceback of
		// a failed predict, which a Go server has none of: empty.
		b = append(b, `{"error_code": "`...)
		b = append(b, mlflowCode(f.status)...)
		b = append(appendJSONString(append(b, `", "message": `...), f.msg), `, "stack_trace": ""}`...)
	default:
		b = append(appendJSONString(append(b, `{"error": `...), f.msg), '}')
	}
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(f.status)
	w.Write(b)
	return len(b)
}

func mlflowCode(status int) string {
	switch status {
	case 400, 413, 415, 431:
		return "BAD_REQUEST"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "RESOURCE_DOES_NOT_EXIST"
	case 405:
		return "BAD_REQUEST"
	case 429:
		return "REQUEST_LIMIT_EXCEEDED"
	case 503:
		return "TEMPORARILY_UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL_ERROR"
}

// finish records metrics and queues the log line; both are cheap and
// never block (the log writer drops when behind).
func (h *Handler) finish(r *http.Request, p protocol, route, rid string, rec *outcome, start time.Time) {
	d := time.Since(start)
	h.met.request(p, route, rec.status)
	if rec.scored {
		h.met.duration[p].Observe(d.Seconds())
	}
	if h.opts.Log == nil {
		return
	}
	// A request through the workspace server's mount had the prefix
	// stripped from URL.Path; RequestURI keeps what the client sent. OIP
	// routes also arrive unstripped at the server root.
	path := r.URL.Path
	if h.opts.Prefix != "" && strings.HasPrefix(r.RequestURI, h.opts.Prefix+"/") {
		path = h.opts.Prefix + path
	}
	h.opts.Log.Log(reqlog.Entry{
		Time: start, RequestID: rid, Method: r.Method, Path: path, Protocol: p.String(),
		Status: rec.status, DurationMS: float64(d.Nanoseconds()) / 1e6, Rows: rec.rows,
		BytesIn: rec.bytesIn, BytesOut: int64(rec.out), Client: r.RemoteAddr, Auth: rec.auth, Error: rec.err,
	})
}

func (h *Handler) oipModel(w http.ResponseWriter, r *http.Request) {
	l := h.model.Load()
	if f := h.oipServes(l, r); f != nil {
		h.writeFailure(w, protoOIP, f)
		return
	}
	name := r.PathValue("m")
	type tensor struct {
		Name     string `json:"name"`
		Datatype string `json:"datatype"`
		Shape    []int  `json:"shape"`
	}
	var ins []tensor
	for _, in := range l.inputs {
		ins = append(ins, tensor{in.Name, oipType(in.Type), []int{-1}})
	}
	outs := []tensor{{"predict", "BYTES", []int{-1}}}
	if l.nout == 1 {
		outs[0].Datatype = "FP64"
	} else {
		outs = append(outs, tensor{"predict_proba", "FP64", []int{-1, l.nout}})
	}
	writeJSON(w, 200, map[string]any{
		"name": name, "versions": []string{strconv.Itoa(l.version)}, "platform": "mlflow-go",
		"inputs": ins, "outputs": outs,
	})
}

func oipType(t string) string {
	switch t {
	case "integer":
		return "INT64"
	case "number":
		return "FP64"
	case "boolean":
		return "BOOL"
	}
	return "BYTES"
}

func (h *Handler) oipModelReady(w http.ResponseWriter, r *http.Request) {
	if f := h.oipServes(h.model.Load(), r); f != nil {
		h.writeFailure(w, protoOIP, f)
		return
	}
	name := r.PathValue("m")
	ok := h.ready()
	writeJSON(w, map[bool]int{true: 200, false: 503}[ok], map[string]any{"name": name, "ready": ok})
}
