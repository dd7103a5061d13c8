package loadgen

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// counting is a test server that counts requests and new connections.
type counting struct {
	*httptest.Server
	requests, conns atomic.Int64
}

func newCounting(t *testing.T, h http.HandlerFunc) *counting {
	t.Helper()
	c := &counting{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		h(w, r)
	}))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func ok(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }

func run(t *testing.T, c Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestClosedLoopCountsEveryRequest(t *testing.T) {
	for _, keep := range []bool{false, true} {
		srv := newCounting(t, ok)
		res := run(t, Config{URL: srv.URL + "/x", Requests: 50, Concurrency: 4, KeepAlive: keep})
		if res.Requests != 50 || res.Successes != 50 || res.Failures != 0 || res.Status[200] != 50 {
			t.Errorf("keepalive %v: %+v", keep, res)
		}
		if got := srv.requests.Load(); got != 50 {
			t.Errorf("keepalive %v: the server saw %d requests, want 50", keep, got)
		}
		// ab's default (no -k) is one TCP connection per request; -k keeps one per worker
		// (a worker the scheduler starts late may find the requests all taken).
		if got := srv.conns.Load(); !keep && got != 50 || keep && (got < 1 || got > 4) {
			t.Errorf("keepalive %v: %d connections, want 50 without keepalive, 1 to 4 with it", keep, got)
		}
		if res.BodyBytes != 150 || res.DocLength != 3 || res.LengthErrors != 0 {
			t.Errorf("keepalive %v: body bytes %d, doc length %d, length errors %d", keep, res.BodyBytes, res.DocLength, res.LengthErrors)
		}
		if res.Latency.TotalCount() != 50 {
			t.Errorf("keepalive %v: %d latencies recorded", keep, res.Latency.TotalCount())
		}
	}
}

// Warmup settles the connections the measured part then uses.
func TestWarmupKeepsConnections(t *testing.T) {
	srv := newCounting(t, ok)
	res := run(t, Config{URL: srv.URL, Warmup: 50 * time.Millisecond, Requests: 20, Concurrency: 2, KeepAlive: true})
	if res.Requests != 20 || res.KeepAliveRequests != 20 {
		t.Errorf("%d requests, %d on a connection opened before", res.Requests, res.KeepAliveRequests)
	}
	if n := srv.conns.Load(); n > 2 {
		t.Errorf("%d connections for 2 workers", n)
	}
}

func TestDurationStopsByItself(t *testing.T) {
	srv := newCounting(t, ok)
	res := run(t, Config{URL: srv.URL, Duration: 200 * time.Millisecond, Concurrency: 2, KeepAlive: true})
	if res.Requests == 0 || res.Requests != srv.requests.Load() {
		t.Errorf("requests %d, server saw %d", res.Requests, srv.requests.Load())
	}
}

func TestOpenLoopSendsRateTimesDuration(t *testing.T) {
	srv := newCounting(t, ok)
	res := run(t, Config{URL: srv.URL, Rate: 200, Duration: 250 * time.Millisecond, Concurrency: 4, KeepAlive: true})
	if res.Requests != 50 || srv.requests.Load() != 50 {
		t.Errorf("rate 200/s for 250ms: %d requests (server: %d), want 50", res.Requests, srv.requests.Load())
	}
}

// A stall delays the requests due during it; the open loop counts their
// lateness, which a closed loop would hide behind the one slow request.
func TestOpenLoopCountsCoordinatedOmission(t *testing.T) {
	var once sync.Once
	srv := newCounting(t, func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { time.Sleep(300 * time.Millisecond) })
		ok(w, r)
	})
	res := run(t, Config{URL: srv.URL, Rate: 200, Duration: 500 * time.Millisecond, Concurrency: 1, KeepAlive: true})
	// Requests due in the stall's first 200 ms were all answered after it
	// ended, so each is at least 100 ms late: about 40 of them.
	late := res.Requests - countBelow(res, 100*time.Millisecond)
	if late < 20 {
		t.Errorf("%d of %d requests counted 100 ms late or more, want the ~40 due during the stall", late, res.Requests)
	}
}

func countBelow(r *Result, d time.Duration) int64 {
	var n int64
	for _, b := range r.Latency.Distribution() {
		if b.To < int64(d/time.Microsecond) {
			n += b.Count
		}
	}
	return n
}

func TestFailuresAreCountedNotFatal(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	hang := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	e500 := newCounting(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) })

	for _, tc := range []struct {
		name string
		url  string
		kind string
		code int
	}{
		{"refused", closed, "connection refused", 0},
		{"timeout", hang, "timeout", 0},
		{"non-2xx", e500.URL, "", 500},
	} {
		// Kept alive, the closed loop runs on the event loop; otherwise on
		// a goroutine per connection: both count alike.
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s keepalive %v", tc.name, keep), func(t *testing.T) {
				res := run(t, Config{URL: tc.url, Requests: 6, Concurrency: 2, KeepAlive: keep, Timeout: 100 * time.Millisecond})
				if res.Requests != 6 || res.Failures != 6 || res.Successes != 0 {
					t.Errorf("%+v", res)
				}
				if tc.kind != "" && res.Errors[tc.kind] != 6 {
					t.Errorf("errors %v, want 6 %q", res.Errors, tc.kind)
				}
				if tc.code != 0 && res.Status[tc.code] != 6 {
					t.Errorf("status %v, want 6 × %d", res.Status, tc.code)
				}
				rep := res.Report()
				if rep.ErrorRate != 1 || rep.Failures != 6 {
					t.Errorf("report: error rate %v, failures %d", rep.ErrorRate, rep.Failures)
				}
			})
		}
	}
}

func TestCancelEndsRequestsInFlight(t *testing.T) {
	hang := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	for _, keep := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Run(ctx, Config{URL: hang, Requests: 10, Concurrency: 2, KeepAlive: keep, Timeout: time.Hour})
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("keepalive %v: err = %v, want context.Canceled", keep, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("keepalive %v: Run did not return after cancel: a blocked read ignores it", keep)
		}
	}
}

// A server that sends its answer in pieces, or stalls in the middle of
// one: the pieces make one answer, the stall a timeout, and the run ends.
func TestAnswersInPiecesAndStalls(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	pieces := func(stall bool) func(net.Conn) {
		return func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				for i := 0; i < len(answer); i += 7 {
					if stall && i > 20 {
						io.Copy(io.Discard, c) // never a byte more
						return
					}
					if _, err := io.WriteString(c, answer[i:min(i+7, len(answer))]); err != nil {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
	}
	for _, keep := range []bool{false, true} {
		res := run(t, Config{URL: rawServer(t, pieces(false)), Requests: 6, Concurrency: 2, KeepAlive: keep, Timeout: 5 * time.Second})
		if res.Successes != 6 || res.BodyBytes != 30 {
			t.Errorf("in pieces, keepalive %v: %d ok, %d body bytes, errors %v", keep, res.Successes, res.BodyBytes, res.Errors)
		}
		start := time.Now()
		res = run(t, Config{URL: rawServer(t, pieces(true)), Requests: 4, Concurrency: 2, KeepAlive: keep, Timeout: 200 * time.Millisecond})
		if res.Requests != 4 || res.Errors["timeout"] != 4 {
			t.Errorf("stalled, keepalive %v: %d requests, errors %v", keep, res.Requests, res.Errors)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stalled, keepalive %v: the run took %v for 4 requests timing out after 200ms, 2 at a time", keep, d)
		}
	}
}

// A server may answer before it has read the request (a body too large)
// and close: the answer or the broken connection is counted, nothing hangs.
func TestAnswerBeforeTheBody(t *testing.T) {
	early := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	})
	body := make([]byte, 16<<20)
	for _, keep := range []bool{false, true} {
		res := run(t, Config{URL: early, Body: body, Requests: 3, Concurrency: 1, KeepAlive: keep, Timeout: 5 * time.Second})
		var failed int64
		for _, n := range res.Errors {
			failed += n
		}
		if res.Requests != 3 || res.Status[413]+failed != 3 || res.Errors["timeout"] > 0 {
			t.Errorf("keepalive %v: %d requests, status %v, errors %v", keep, res.Requests, res.Status, res.Errors)
		}
	}
}

// HEAD answers carry a Content-Length but no body; reading one would wait
// for bytes that never come.
func TestHeadHasNoBody(t *testing.T) {
	u := rawServer(t, canned("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", false))
	for _, keep := range []bool{false, true} {
		res := run(t, Config{URL: u, Method: "HEAD", Requests: 4, Concurrency: 1, KeepAlive: keep, Timeout: 5 * time.Second})
		if res.Successes != 4 || res.BodyBytes != 0 {
			t.Errorf("keepalive %v: %+v", keep, res)
		}
	}
}

// rawServer answers every connection with fn and returns its http:// URL.
func rawServer(t testing.TB, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// canned reads requests and answers each with the same bytes; it closes the
// connection after each answer when close is set.
func canned(answer string, close bool) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, answer); err != nil || close {
				return
			}
		}
	}
}

func TestAnswersAsServersWriteThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		close  bool
		status int
		body   int64
		kind   string // expected error kind, "" for none
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, 5, ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", false, 200, 8, ""},
		{"to close", "HTTP/1.0 201 Created\r\n\r\nuntil the end", true, 201, 13, ""},
		{"continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, 2, ""},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, 0, ""},
		// The server closes each connection without saying so: the kept-alive
		// connection fails before any answer byte and is redialled, no failure.
		{"silent close", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, 200, 2, ""},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", true, 0, 0, "bad response"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", true, 0, 0, "bad response"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, 0, 0, "connection closed before the answer ended"},
		{"huge header", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", true, 0, 0, "bad response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := rawServer(t, canned(tc.answer, tc.close))
			// The event loop (kept alive, closed loop), then the goroutine
			// client (the open loop, at 80/s for 50ms, on kept-alive
			// connections too).
			for _, c := range []Config{
				{URL: u, Requests: 4, Concurrency: 1, KeepAlive: true, Timeout: 5 * time.Second},
				{URL: u, Rate: 80, Duration: 50 * time.Millisecond, Concurrency: 1, KeepAlive: true, Timeout: 5 * time.Second},
			} {
				res := run(t, c)
				if res.Requests != 4 {
					t.Fatalf("rate %v: %d requests", c.Rate, res.Requests)
				}
				if tc.kind != "" {
					if res.Errors[tc.kind] != 4 {
						t.Errorf("rate %v: errors %v, want 4 × %q", c.Rate, res.Errors, tc.kind)
					}
					continue
				}
				if len(res.Errors) > 0 || res.Status[tc.status] != 4 || res.BodyBytes != 4*tc.body {
					t.Errorf("rate %v: errors %v, status %v, body bytes %d (want 4 × %d)", c.Rate, res.Errors, res.Status, res.BodyBytes, tc.body)
				}
			}
		})
	}
}

func TestRequestCarriesBodyAndHeaders(t *testing.T) {
	var bad atomic.Value
	srv := newCounting(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || string(b) != `{"data": []}` || r.Header.Get("Authorization") != "Bearer k" ||
			r.Header.Get("Content-Type") != "application/json" || r.URL.RawQuery != "a=1" {
			bad.Store(r.Method + " " + r.URL.String() + " " + string(b) + " " + r.Header.Get("Authorization"))
		}
		ok(w, r)
	})
	h := http.Header{}
	h.Set("Authorization", "Bearer k")
	h.Set("Content-Type", "application/json")
	res := run(t, Config{URL: srv.URL + "/score?a=1", Body: []byte(`{"data": []}`), Header: h, Requests: 3, Concurrency: 1})
	if v := bad.Load(); v != nil {
		t.Errorf("the server got %v", v)
	}
	if res.Successes != 3 || res.Sent == 0 {
		t.Errorf("%+v", res)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{URL: "http://h", Requests: 1}, "concurrency 0: want 1 or more"},
		{Config{URL: "ftp://h", Requests: 1, Concurrency: 1}, `URL "ftp://h": want http:// or https://`},
		{Config{URL: "http://", Requests: 1, Concurrency: 1}, "has no host"},
		{Config{URL: "http://h", Concurrency: 1}, "no bound: set requests or duration"},
		{Config{URL: "http://h", Concurrency: 1, Rate: 10, Requests: 5, Duration: time.Second}, "rate and requests exclude each other"},
		{Config{URL: "http://h", Concurrency: 1, Rate: 10}, "rate needs a duration"},
		{Config{URL: "http://h", Concurrency: 1, Duration: -time.Second}, "duration -1s: must not be negative"},
		{Config{URL: "http://h", Concurrency: 4, Requests: 2}, "concurrency 4 is more than requests 2"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.c, err, tc.want)
		}
	}
	if _, err := Run(context.Background(), Config{URL: "http://h", Requests: 1, Concurrency: 1, Header: http.Header{"X": {"a\r\nb"}}}); err == nil {
		t.Error("a header value with a line break was accepted")
	}
}

func TestReportAndPictures(t *testing.T) {
	srv := newCounting(t, ok)
	c := Config{URL: srv.URL + "/score", Requests: 20, Concurrency: 2, Body: []byte("{}")}
	res := run(t, c)
	rep := res.Report()
	if rep.Requests != 20 || rep.Successes != 20 || rep.Status["200"] != 20 || rep.RPS <= 0 || rep.DurationMS <= 0 {
		t.Errorf("report %+v", rep)
	}
	if !(rep.MinMS > 0 && rep.MinMS <= rep.P50MS && rep.P50MS <= rep.P90MS && rep.P90MS <= rep.P99MS &&
		rep.P99MS <= rep.P999MS && rep.P999MS <= rep.MaxMS) {
		t.Errorf("latencies out of order: %+v", rep)
	}
	var ab strings.Builder
	WriteAB(&ab, c, res)
	for _, want := range []string{"Document Path:          /score\n", "Complete requests:      20\n", "Failed requests:        0\n",
		"Requests per second:", "Time per request:", "(mean, across all concurrent requests)", "Percentage of the requests served within a certain time (ms)",
		" 100%", "(longest request)", "Total body sent:        "} {
		if !strings.Contains(ab.String(), want) {
			t.Errorf("ab layout lacks %q:\n%s", want, ab.String())
		}
	}
	var svg strings.Builder
	if err := WriteSVG(&svg, res.Latency, "<script>"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(svg.String(), "<script>") {
		t.Error("the title is not escaped")
	}
	d := xml.NewDecoder(strings.NewReader(svg.String()))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not XML: %v", err)
		}
	}
}

// https:// goes through TLS (no raw-socket shortcut there); an untrusted
// certificate is a failure of its own kind.
func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	res := run(t, Config{URL: srv.URL, Requests: 3, Concurrency: 1})
	if res.Errors["TLS certificate not trusted"] != 3 {
		t.Errorf("untrusted: errors %v", res.Errors)
	}
	trust := srv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, keep := range []bool{false, true} {
		res = run(t, Config{URL: srv.URL, Requests: 3, Concurrency: 1, KeepAlive: keep, TLS: trust})
		if res.Successes != 3 || res.BodyBytes != 9 {
			t.Errorf("keepalive %v: %+v", keep, res)
		}
	}
}

// A payload larger than the socket's buffer is written in parts.
func TestLargePayload(t *testing.T) {
	var got atomic.Int64
	srv := newCounting(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		ok(w, r)
	})
	body := make([]byte, 8<<20)
	res := run(t, Config{URL: srv.URL, Body: body, Requests: 2, Concurrency: 1, KeepAlive: true})
	if res.Successes != 2 || got.Load() != int64(len(body)) || res.Sent < 2*int64(len(body)) {
		t.Errorf("%+v, server read %d bytes", res, got.Load())
	}
}

func TestErrKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}}, "unknown host"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused"},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, "host unreachable"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{io.ErrUnexpectedEOF, "connection closed before the answer ended"},
		{&protocolError{"x"}, "bad response"},
		{errors.New("something new"), "other"},
	} {
		if got := errKind(tc.err); got != tc.want {
			t.Errorf("errKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A server that sends more than one answer per request: each request is
// still written whole before an answer is read for it. (The server's own
// count cannot tell: answers ahead of their requests end the run before
// the last requests are read, and closing a socket with unread answers
// resets it.)
func TestStrayAnswersDoNotSkipRequests(t *testing.T) {
	const two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, c := range []Config{
		{Requests: 6, Concurrency: 1, KeepAlive: true},                                // the event loop
		{Rate: 120, Duration: 50 * time.Millisecond, Concurrency: 1, KeepAlive: true}, // the goroutine client
	} {
		c.URL = rawServer(t, canned(two, false))
		c.Timeout = 2 * time.Second
		tg, err := newTarget(c)
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, c)
		if want := 6 * int64(len(tg.request)); res.Requests != 6 || res.Successes != 6 || res.Sent != want {
			t.Errorf("rate %v: %d requests, %d ok, errors %v; %d bytes sent, want %d", c.Rate, res.Requests, res.Successes, res.Errors, res.Sent, want)
		}
	}
}
