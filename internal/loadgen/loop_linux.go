//go:build linux

package loadgen

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// The closed loop over kept-alive plain-TCP connections, the case wrk is
// built for, runs the way wrk does: a few event loops, each owning its
// connections' non-blocking sockets and waiting on them with one epoll
// set, instead of a goroutine per connection parked in Go's netpoller. A
// request costs one write and (usually) one read, both raw system calls
// that never block and so skip the scheduler's bookkeeping, plus a share
// of one epoll_wait: no goroutine switch, no poller round trip, no
// allocation. Everything else (no keepalive, the open loop, https) keeps
// the goroutine-per-connection client in client.go.

// startLoops starts the event loops for p when the run is one they serve,
// adding them to wg, and reports whether it did.
func (r *runner) startLoops(ctx context.Context, p *plan, wg *sync.WaitGroup) bool {
	if r.loops == nil && !r.makeLoops(ctx) {
		return false
	}
	for _, l := range r.loops {
		l.p = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
	return true
}

// makeLoops makes the event loops, one per two cores (the server under
// test usually shares the machine; one loop keeps up with wrk's two
// threads on two cores), and deals the workers to them.
func (r *runner) makeLoops(ctx context.Context) bool {
	c := &r.cfg
	if !c.KeepAlive || c.Rate > 0 || r.target.tls != nil {
		return false
	}
	sa, family, ok := resolve(ctx, r.target.addr)
	if !ok {
		return false // the goroutine client reports what is wrong with the address
	}
	n := min((runtime.GOMAXPROCS(0)+1)/2, len(r.workers))
	loops := make([]*evLoop, n)
	for i := range loops {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				syscall.Close(l.epfd)
			}
			return false
		}
		loops[i] = &evLoop{r: r, sa: sa, family: family, epfd: epfd}
	}
	// Workers are dealt to the loops in turn: each loop gets an equal share
	// of the connections, and each worker keeps its own counters.
	for i, w := range r.workers {
		l := loops[i%n]
		l.conns = append(l.conns, &evConn{w: w, id: int32(len(l.conns)), fd: -1, in: newInbuf()})
	}
	r.loops = loops
	return true
}

func (r *runner) closeLoops() {
	for _, l := range r.loops {
		for _, c := range l.conns {
			l.closeConn(c)
		}
		syscall.Close(l.epfd)
	}
	r.loops = nil
}

// resolve returns the socket address of host:port: an IPv4 address when
// the name has one (our servers bind 127.0.0.1, and "localhost" often
// lists ::1 first), else the first IPv6 one.
func resolve(ctx context.Context, hostport string) (syscall.Sockaddr, int, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, 0, false
	}
	pn, err := net.DefaultResolver.LookupPort(ctx, "tcp", port)
	if err != nil {
		return nil, 0, false
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, 0, false
	}
	pick := addrs[0]
	for _, a := range addrs {
		if a.Unmap().Is4() {
			pick = a
			break
		}
	}
	pick = pick.Unmap()
	switch {
	case pick.Is4():
		return &syscall.SockaddrInet4{Port: pn, Addr: pick.As4()}, syscall.AF_INET, true
	case pick.Zone() == "" && pick.Is6():
		return &syscall.SockaddrInet6{Port: pn, Addr: pick.As16()}, syscall.AF_INET6, true
	}
	return nil, 0, false // a zoned IPv6 address: left to net.Dial
}

// evState is where a connection is in its request.
type evState uint8

const (
	evConnecting evState = iota + 1 // a non-blocking connect in progress
	evWriting                       // the request partly written: waiting for room
	evReading                       // waiting for (the rest of) the answer
	evQueued                        // to start its next request (or resend) after the events at hand
	evDone                          // no more requests for this connection
)

// evConn is one connection of an event loop: its socket, its request in
// flight and the answer read so far.
type evConn struct {
	w        *worker
	id       int32 // index in the loop's conns, the epoll data
	gen      int32 // sockets opened: an event of a socket since closed is stale
	fd       int   // -1: no socket
	resend   bool  // queued to send its request again rather than the next one
	state    evState
	uses     int  // requests sent on fd
	retried  bool // the request was sent again after a kept-alive connection closed
	readable bool // data came while the request was still being written
	hup      bool // the server closed its side of the socket
	off      int  // request bytes written
	from     time.Time
	in       inbuf
	p        parser
	a        answer
}

// evLoop is one event loop and the connections it owns.
type evLoop struct {
	r      *runner
	p      *plan
	sa     syscall.Sockaddr
	family int
	epfd   int
	conns  []*evConn
	active int       // connections not done
	queued []*evConn // connections whose request failed: see end
}

// sweepEvery is how often the loop looks for requests past their timeout.
// A request times out after Timeout less up to one sweep, so at 90 to
// 100 % of Timeout, as the goroutine client's deadlines do.
func sweepEvery(timeout time.Duration) time.Duration { return min(10*time.Millisecond, timeout/10) }

// run runs one phase: until every connection is done with the plan, or
// the run is aborted. Connections stay open for the next phase.
func (l *evLoop) run() {
	now := time.Now()
	l.active = len(l.conns)
	l.queued = l.queued[:0]
	for _, c := range l.conns {
		c.state = 0
		l.next(c, now)
	}
	timeout := l.r.cfg.Timeout
	sweep := sweepEvery(timeout)
	wait := max(int(sweep/time.Millisecond), 1)
	nextSweep := now.Add(sweep)
	events := make([]syscall.EpollEvent, len(l.conns))
	for l.active > 0 && !l.r.aborted.Load() {
		ms := wait
		if len(l.queued) > 0 {
			ms = 0
		}
		k, err := syscall.EpollWait(l.epfd, events, ms)
		if err != nil && err != syscall.EINTR {
			// Not something a server can cause (a bad epoll descriptor):
			// end the requests in flight as failures rather than spin.
			now = time.Now()
			for _, c := range l.conns {
				if c.state != evDone {
					l.closeConn(c)
					c.a.err = os.NewSyscallError("epoll_wait", err)
					c.w.record(c.a, now.Sub(c.from))
					l.finish(c)
				}
			}
			return
		}
		for _, ev := range events[:max(k, 0)] {
			if c := l.conns[ev.Fd]; c.gen == ev.Pad && c.fd >= 0 {
				l.event(c, ev.Events)
			}
		}
		if now = time.Now(); !now.Before(nextSweep) {
			nextSweep = now.Add(sweep)
			for _, c := range l.conns {
				if c.state < evQueued && now.Sub(c.from) >= timeout-sweep {
					l.end(c, os.ErrDeadlineExceeded, now)
				}
			}
		}
		// Requests that failed start again only now, after a look at the
		// sockets: a server refusing every connection makes a loop
		// here, not a recursion, and the events keep being served.
		queued := l.queued
		l.queued = nil
		for _, c := range queued {
			if c.resend {
				c.resend = false
				l.send(c, now)
			} else {
				l.next(c, now)
			}
		}
		clear(queued)
		if l.queued == nil {
			l.queued = queued[:0]
		}
	}
}

// next starts the connection's next request at now, or retires the
// connection when the plan is used up.
func (l *evLoop) next(c *evConn, now time.Time) {
	i := l.r.next.Add(1) - 1
	if l.p.n > 0 && i >= l.p.n || !now.Before(l.p.end) {
		l.finish(c)
		return
	}
	c.from = now
	c.a = answer{}
	c.retried = false
	l.send(c, now)
}

func (l *evLoop) finish(c *evConn) {
	if c.state != evDone {
		c.state = evDone
		l.active--
	}
}

// send writes the request, on a new connection when there is none.
func (l *evLoop) send(c *evConn, now time.Time) {
	c.p.reset(l.r.target.head)
	c.off, c.readable = 0, false
	if c.fd < 0 {
		connected, err := l.connect(c)
		if err != nil {
			l.end(c, err, now)
			return
		}
		if !connected {
			c.state = evConnecting
			return
		}
	}
	c.a.reused = c.uses > 0
	c.uses++
	l.write(c, now)
}

// connect opens a non-blocking socket to the target and starts connecting;
// connected says the connection is already up.
func (l *evLoop) connect(c *evConn) (connected bool, err error) {
	fd, err := syscall.Socket(l.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return false, os.NewSyscallError("socket", err)
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	err = syscall.Connect(fd, l.sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return false, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	// Edge-triggered (EPOLLET is negative on some ports, hence the mask):
	// the socket is registered once, for good, and an
	// answer that a single read drains costs no further call.
	c.gen++
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff, Fd: c.id, Pad: c.gen}
	if cerr := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); cerr != nil {
		syscall.Close(fd)
		return false, os.NewSyscallError("epoll_ctl", cerr)
	}
	c.fd, c.uses = fd, 0
	return err == nil, nil
}

func (l *evLoop) closeConn(c *evConn) {
	if c.fd >= 0 {
		syscall.Close(c.fd) // closing also leaves the epoll set
		c.fd = -1
	}
	c.in.r, c.in.w = 0, 0
	c.uses, c.hup = 0, false
}

// event handles what epoll reported for c.
func (l *evLoop) event(c *evConn, events uint32) {
	switch c.state {
	case evConnecting:
		if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		soerr, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err == nil && soerr != 0 {
			err = syscall.Errno(soerr)
		}
		if err != nil {
			l.end(c, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}, time.Now())
			return
		}
		c.a.reused = false
		c.uses++
		l.write(c, time.Now())
	case evWriting:
		if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0 {
			c.readable = true
		}
		if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0 {
			c.hup = true
		}
		l.write(c, time.Now())
	case evReading:
		if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0 {
			c.hup = true
		}
		if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			l.read(c)
		}
	}
}

// write writes what is left of the request, then waits for the answer.
func (l *evLoop) write(c *evConn, now time.Time) {
	req := l.r.target.request
	for c.off < len(req) {
		n, errno := rawWrite(c.fd, req[c.off:])
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			c.state = evWriting // the socket's buffer is full: on, at EPOLLOUT
			return
		case errno != 0:
			c.a.sent = int64(c.off)
			l.end(c, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)}, now)
			return
		}
		c.off += n
	}
	c.a.sent = int64(c.off)
	c.state = evReading
	// Bytes already here (the server answered before reading the whole
	// request, or sent more than its last answer) raised their edge
	// before this state: read them now, or wait for an edge that has been.
	if c.readable || len(c.in.pending()) > 0 {
		l.read(c)
	}
}

// read reads and parses what the socket holds.
func (l *evLoop) read(c *evConn) {
	if len(c.in.pending()) > 0 {
		if l.parse(c) {
			return
		}
	}
	for {
		sp := c.in.space()
		n, errno := rawRead(c.fd, sp)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return // drained: on at the next edge
		case errno != 0:
			l.end(c, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}, time.Now())
			return
		case n == 0:
			done, err := c.p.eof(&c.a, len(c.in.pending()))
			c.p.keep = false
			l.end(c, errIfNot(done, err), time.Now())
			return
		}
		c.in.w += n
		if l.parse(c) {
			return
		}
		if n < len(sp) && !c.hup {
			// A short read took everything there was: the next edge
			// comes with the next bytes, without an EAGAIN read first.
			// Not so once the server has closed its side: its end came
			// with the edge at hand, and only a read returning 0 says so.
			return
		}
	}
}

// parse feeds the buffered bytes to c's parser and ends the request when
// the answer is complete or broken; it says whether it did.
func (l *evLoop) parse(c *evConn) bool {
	n, done, err := c.p.feed(&c.a, c.in.pending())
	c.in.r += n
	if err != nil || done {
		l.end(c, err, time.Now())
		return true
	}
	return false
}

// end ends c's request at now (err nil: answered) and starts the next:
// at once after an answer, after the events at hand after a failure.
func (l *evLoop) end(c *evConn, err error, now time.Time) {
	if err != nil || !c.p.keep {
		l.closeConn(c)
	}
	// A kept-alive connection the server closed while idle fails before
	// any byte of an answer: that is no failure of this request, so it is
	// sent once more on a new connection, as the goroutine client does.
	if err != nil && c.a.reused && c.a.bytes == 0 && !c.retried && isClosed(err) {
		c.retried, c.resend = true, true
		c.a = answer{}
		c.state = evQueued
		l.queued = append(l.queued, c)
		return
	}
	c.a.err = err
	c.w.record(c.a, now.Sub(c.from))
	if err != nil {
		c.state = evQueued
		l.queued = append(l.queued, c)
		return
	}
	l.next(c, now)
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket:
// they never block, so they skip the runtime's system-call bookkeeping
// (syscall.Read would tell the scheduler, and wake its monitor thread).
func rawRead(fd int, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(n), e
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(n), e
}
