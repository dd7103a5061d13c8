package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is where every request goes, and the request's bytes, built once.
type target struct {
	addr    string // host:port to dial
	tls     *tls.Config
	head    bool // a HEAD request: answers have no body
	request []byte
}

func newTarget(c Config) (*target, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	t := &target{addr: u.Host}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		t.tls = &tls.Config{}
		if c.TLS != nil {
			t.tls = c.TLS.Clone()
		}
		t.tls.ServerName = u.Hostname()
		t.tls.NextProtos = []string{"http/1.1"} // the client speaks HTTP/1.1 only
	}
	method := c.Method
	if method == "" {
		method = "GET"
		if c.Body != nil {
			method = "POST"
		}
	}
	if strings.ContainsAny(method, " \r\n") {
		return nil, fmt.Errorf("method %q: not a method", method)
	}
	t.head = method == "HEAD"
	path := u.RequestURI()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, path)
	h := c.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	host := u.Host
	if v := h.Get("Host"); v != "" {
		host = v
		h.Del("Host")
	}
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "mlflow-bench")
	}
	if c.Body != nil || method == "POST" || method == "PUT" || method == "PATCH" {
		h.Set("Content-Length", strconv.Itoa(len(c.Body)))
	}
	if !c.KeepAlive {
		h.Set("Connection", "close")
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("header %q: names and values cannot hold line breaks, and names no spaces or colons", k)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(c.Body)
	t.request = b.Bytes()
	return t, nil
}

// conn is one open connection and its reader.
type conn struct {
	c        net.Conn
	in       inbuf     // read through conn.Read, not yet parsed
	deadline time.Time // of c, for reading and writing

	// raw is c's file descriptor for plain TCP (nil under TLS); pending is
	// a request that the next Read writes first, and sent what it wrote.
	raw     syscall.RawConn
	pending []byte
	sent    int
}

// Read reads from the connection. With a request pending it writes the
// request and reads its answer in one visit to the poller: net.Conn's
// Write then Read would try a read before the answer can have come, fail
// with EAGAIN, and only then wait, one wasted system call per request.
// The write happens inside the read callback, after the poller has reset
// the socket's readiness, so an answer that comes at once is not missed.
func (cn *conn) Read(p []byte) (int, error) {
	req := cn.pending
	if req == nil {
		return cn.c.Read(p)
	}
	cn.pending = nil
	var n, wn int
	var rerr, werr error
	wrote := false
	err := cn.raw.Read(func(fd uintptr) bool {
		if !wrote {
			wrote = true
			wn, werr = ignoringEINTR(func() (int, error) { return syscall.Write(int(fd), req) })
			// All written: wait for the answer. Otherwise leave, to
			// write the rest (or fail) through the poller below.
			return werr != nil || wn < len(req)
		}
		n, rerr = ignoringEINTR(func() (int, error) { return syscall.Read(int(fd), p) })
		return rerr != syscall.EAGAIN
	})
	wn = max(wn, 0)
	cn.sent = wn
	if werr != nil && werr != syscall.EAGAIN {
		return 0, os.NewSyscallError("write", werr)
	}
	if wn < len(req) {
		// The socket buffer is full (a large payload): the rest through
		// net.Conn, which waits for room.
		m, err := cn.c.Write(req[wn:])
		cn.sent += m
		if err != nil {
			return 0, err
		}
		return cn.c.Read(p)
	}
	switch {
	case err != nil: // a deadline, or the connection closed under us
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// do sends one request at now and reads its answer on the worker's
// connection, opening one first when needed.
func (w *worker) do(ctx context.Context, now time.Time) answer {
	t, cfg := w.r.target, &w.r.cfg
	for attempt := 0; ; attempt++ {
		var a answer
		cn := w.conn
		if cn == nil {
			var err error
			if cn, err = w.dial(ctx); err != nil {
				a.err = err
				return a
			}
		} else {
			a.reused = true
		}
		// Moving a deadline costs a timer update; at tens of thousands of
		// requests a second it is worth doing only when the deadline left
		// has shrunk by a tenth of the timeout (at most a second), so a
		// request times out after 90 to 100 % of Timeout.
		if cn.deadline.Sub(now) < cfg.Timeout-min(cfg.Timeout/10, time.Second) {
			cn.deadline = now.Add(cfg.Timeout)
			cn.c.SetDeadline(cn.deadline)
		}
		var err error
		keep := false
		if cn.raw != nil && len(cn.in.pending()) == 0 {
			cn.pending, cn.sent = t.request, 0 // written by the answer's first read
			keep, err = readAnswer(cn, &cn.in, t.head, &a)
			a.sent = int64(cn.sent)
		} else {
			// Under TLS, or after stray bytes the server sent beyond its
			// last answer (those would be parsed before any read).
			var n int
			n, err = cn.c.Write(t.request)
			a.sent = int64(n)
			if err == nil {
				keep, err = readAnswer(cn, &cn.in, t.head, &a)
			}
		}
		if err != nil || !keep || !cfg.KeepAlive {
			w.drop()
		}
		// A kept-alive connection the server closed while idle fails
		// before any byte of an answer: that is no failure of this
		// request, so it is sent once more on a new connection, as
		// net/http does.
		if err != nil && a.reused && a.bytes == 0 && attempt == 0 && isClosed(err) && ctx.Err() == nil {
			continue
		}
		a.err = err
		return a
	}
}

func (w *worker) dial(ctx context.Context) (*conn, error) {
	t, cfg := w.r.target, &w.r.cfg
	d := net.Dialer{Timeout: cfg.Timeout}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if t.tls != nil {
		tc := tls.Client(c, t.tls)
		tc.SetDeadline(time.Now().Add(cfg.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	cn := &conn{c: c}
	if tc, ok := c.(*net.TCPConn); ok {
		if cn.raw, err = tc.SyscallConn(); err != nil {
			c.Close()
			return nil, err
		}
	}
	cn.in = newInbuf()
	w.mu.Lock()
	w.conn = cn
	if w.r.aborted.Load() {
		c.SetDeadline(time.Unix(1, 0))
	}
	w.mu.Unlock()
	return cn, nil
}

func (w *worker) drop() {
	w.mu.Lock()
	if w.conn != nil {
		w.conn.c.Close()
		w.conn = nil
	}
	w.mu.Unlock()
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// errKind names a failure without an answer, in the words a user would
// search for. The set is fixed: error texts carry addresses and ports, and
// a report must stay small whatever the network did.
func errKind(err error) string {
	var pe *protocolError
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return "bad response"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before the answer ended"
	case errors.As(err, &dnsErr):
		return "unknown host"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var tlsErr *tls.CertificateVerificationError
	if errors.As(err, &tlsErr) {
		return "TLS certificate not trusted"
	}
	return "other"
}
