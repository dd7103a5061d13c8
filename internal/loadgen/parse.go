package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// answer is one request's outcome.
type answer struct {
	status      int
	bytes, body int64 // received: everything, and the body alone
	sent        int64
	reused      bool // sent on a connection opened before
	err         error
}

// protocolError is an answer that is not HTTP/1.x as we read it.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "bad response: " + e.msg }

// maxHeader bounds one line of an answer's head (status line, header,
// chunk size): a broken or hostile server cannot make the generator buffer
// without limit.
const maxHeader = 64 << 10

// pstate is where the parser is in an answer.
type pstate uint8

const (
	sStatus     pstate = iota // the status line
	sHeader                   // header lines, until the empty one
	sBody                     // Content-Length bytes, left in parser.left
	sChunkSize                // a chunk's size line
	sChunkData                // a chunk's bytes, left in parser.left
	sChunkEnd                 // the CRLF after a chunk
	sTrailer                  // trailer lines after the last chunk
	sUntilClose               // no length: the body runs to the end of the connection
)

// parser reads one HTTP/1.x answer from bytes as they arrive, in whatever
// pieces: both the event loop and the blocking client feed it. It keeps no
// copy of what it reads: a line is parsed only once whole in the caller's
// buffer (feed leaves an incomplete one unconsumed), bodies are skipped,
// and only the status, the framing (Content-Length, chunked, Connection)
// and the byte counts are kept, as wrk does.
type parser struct {
	head    bool // the request was HEAD: no answer has a body
	state   pstate
	keep    bool // the connection may carry another request
	code    int
	length  int64 // Content-Length, -1 without
	chunked bool
	left    int64 // body or chunk bytes still to skip
}

func (p *parser) reset(head bool) { *p = parser{head: head} }

// feed parses what it can of b into a and returns how many bytes it
// consumed; done says the answer is complete (p.keep then says whether the
// connection may be reused). Bytes after a complete answer are left
// unconsumed. An error is final: the connection must be dropped.
func (p *parser) feed(a *answer, b []byte) (n int, done bool, err error) {
	for n < len(b) {
		switch p.state {
		case sBody, sChunkData:
			m := int64(len(b) - n)
			if m > p.left {
				m = p.left
			}
			n += int(m)
			p.left -= m
			a.bytes += m
			a.body += m
			if p.left > 0 {
				continue
			}
			if p.state == sBody {
				return n, true, nil
			}
			p.state = sChunkEnd
			continue
		case sUntilClose:
			m := int64(len(b) - n)
			n = len(b)
			a.bytes += m
			a.body += m
			continue
		}
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			if len(b)-n > maxHeader {
				return n, false, &protocolError{fmt.Sprintf("a header line longer than %d bytes", maxHeader)}
			}
			return n, false, nil // the rest of the line is still to come
		}
		line := b[n : n+i+1]
		n += i + 1
		a.bytes += int64(len(line))
		if len(line) > maxHeader {
			return n, false, &protocolError{fmt.Sprintf("a header line longer than %d bytes", maxHeader)}
		}
		done, err := p.line(a, bytes.TrimRight(line, "\r\n"))
		if err != nil || done {
			return n, done, err
		}
	}
	return n, false, nil
}

// eof ends the answer at the end of the connection, pending being the
// unconsumed bytes of an incomplete line: only a body without a length
// ends that way.
func (p *parser) eof(a *answer, pending int) (done bool, err error) {
	a.bytes += int64(pending)
	if p.state == sUntilClose && pending == 0 {
		p.keep = false
		return true, nil
	}
	if a.bytes == 0 {
		return false, io.EOF // nothing of an answer: the server closed the connection
	}
	return false, io.ErrUnexpectedEOF
}

// line handles one line of the head, a chunk's size or its end, or a
// trailer, without its CRLF.
func (p *parser) line(a *answer, line []byte) (done bool, err error) {
	switch p.state {
	case sStatus:
		// "HTTP/1.1 200 OK"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return false, &protocolError{fmt.Sprintf("status line %q", truncate(line))}
		}
		code := 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return false, &protocolError{fmt.Sprintf("status line %q", truncate(line))}
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 {
			return false, &protocolError{fmt.Sprintf("status line %q", truncate(line))}
		}
		p.code = code
		p.keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
		p.length, p.chunked = -1, false
		p.state = sHeader
	case sHeader:
		if len(line) == 0 {
			return p.endHead(a)
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, &protocolError{fmt.Sprintf("header line %q", truncate(line))}
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return false, &protocolError{fmt.Sprintf("Content-Length %q", truncate(value))}
			}
			p.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			p.chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				p.keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				p.keep = true
			}
		}
	case sChunkSize:
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return false, &protocolError{fmt.Sprintf("chunk size %q", truncate(line))}
		}
		if n == 0 {
			p.state = sTrailer
		} else {
			p.state, p.left = sChunkData, n
		}
	case sChunkEnd:
		if len(line) != 0 {
			return false, &protocolError{"chunk not followed by CRLF"}
		}
		p.state = sChunkSize
	case sTrailer:
		return len(line) == 0, nil
	}
	return false, nil
}

// endHead decides, at the empty line ending a head, how the body is framed.
func (p *parser) endHead(a *answer) (done bool, err error) {
	code := p.code
	if code >= 100 && code < 200 && code != 101 {
		p.state = sStatus // an interim answer; the real one follows
		return false, nil
	}
	a.status = code
	switch {
	case p.head || code == 204 || code == 304 || code == 101:
		p.keep = p.keep && code != 101
		return true, nil
	case p.chunked:
		p.state = sChunkSize
	case p.length >= 0:
		p.state, p.left = sBody, p.length
		return p.length == 0, nil
	default:
		p.state, p.keep = sUntilClose, false
	}
	return false, nil
}

func truncate(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// inbuf holds the bytes read from a connection and not yet parsed.
type inbuf struct {
	b    []byte
	r, w int
}

func newInbuf() inbuf { return inbuf{b: make([]byte, 16<<10)} }

func (in *inbuf) pending() []byte { return in.b[in.r:in.w] }

// space returns room to read into: after the unparsed bytes, moved to the
// front first, and the buffer doubled when they fill it (a line must be
// whole to be parsed; the parser fails past maxHeader, so the buffer stays
// under 2·maxHeader).
func (in *inbuf) space() []byte {
	if in.r == in.w {
		in.r, in.w = 0, 0
	}
	if in.w == len(in.b) {
		if in.r > 0 {
			in.w = copy(in.b, in.b[in.r:in.w])
			in.r = 0
		} else {
			b := make([]byte, 2*len(in.b))
			copy(b, in.b)
			in.b = b
		}
	}
	return in.b[in.w:]
}

// readAnswer reads one answer from rd into a, with the bytes left over
// from the answer before in in; keep says the connection may carry
// another request.
func readAnswer(rd io.Reader, in *inbuf, head bool, a *answer) (keep bool, err error) {
	var p parser
	p.reset(head)
	var rerr error
	for {
		if in.r < in.w {
			n, done, err := p.feed(a, in.pending())
			in.r += n
			if err != nil {
				return false, err
			}
			if done {
				return p.keep, nil
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				done, err := p.eof(a, in.w-in.r)
				in.r = in.w
				return false, errIfNot(done, err)
			}
			return false, rerr
		}
		var m int
		m, rerr = rd.Read(in.space())
		in.w += m
	}
}

func errIfNot(done bool, err error) error {
	if done {
		return nil
	}
	return err
}
