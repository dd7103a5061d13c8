package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// parsed is what reading a stream of answers gave: one line per answer,
// then the error that ended the stream.
func parseAll(r io.Reader, head bool) []string {
	in := newInbuf()
	var out []string
	for i := 0; i < 64; i++ {
		var a answer
		keep, err := readAnswer(r, &in, head, &a)
		if err != nil {
			var pe *protocolError
			switch {
			case errors.As(err, &pe):
				out = append(out, "protocol error")
			case errors.Is(err, io.EOF):
				out = append(out, "EOF")
			default:
				out = append(out, "error "+err.Error())
			}
			return out
		}
		out = append(out, fmt.Sprintf("status %d body %d bytes %d keep %v", a.status, a.body, a.bytes, keep))
		if !keep {
			return out
		}
	}
	return append(out, "more than 64 answers")
}

var answers = []struct {
	name, stream string
	head         bool
	want         []string
}{
	{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false,
		[]string{"status 200 body 5 bytes 43 keep true", "EOF"}},
	{"two answers", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", false,
		[]string{"status 200 body 2 bytes 40 keep true", "status 404 body 0 bytes 45 keep true", "EOF"}},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", false,
		[]string{"status 200 body 8 bytes 90 keep true", "EOF"}},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false,
		[]string{"status 200 body 2 bytes 59 keep false"}},
	{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false,
		[]string{"status 200 body 2 bytes 64 keep true", "EOF"}},
	{"to close", "HTTP/1.0 201 Created\r\n\r\nuntil the end", false,
		[]string{"status 201 body 13 bytes 37 keep false"}},
	{"continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false,
		[]string{"status 200 body 2 bytes 65 keep true", "EOF"}},
	{"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false,
		[]string{"status 204 body 0 bytes 46 keep true", "status 200 body 0 bytes 38 keep true", "EOF"}},
	{"304 has no body", "HTTP/1.1 304 Not Modified\r\n\r\n", false,
		[]string{"status 304 body 0 bytes 29 keep true", "EOF"}},
	{"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true,
		[]string{"status 200 body 0 bytes 40 keep true", "EOF"}},
	{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", false,
		[]string{"status 101 body 0 bytes 36 keep false"}},
	{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 1\n\nx", false,
		[]string{"status 200 body 1 bytes 36 keep true", "EOF"}},
	{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false,
		[]string{"error unexpected EOF"}},
	{"cut in the head", "HTTP/1.1 200 OK\r\nContent-Le", false,
		[]string{"error unexpected EOF"}},
	{"cut in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false,
		[]string{"error unexpected EOF"}},
	{"not http", "SSH-2.0-OpenSSH_9.6\r\n\r\n", false, []string{"protocol error"}},
	{"status not a number", "HTTP/1.1 2x0 OK\r\n\r\n", false, []string{"protocol error"}},
	{"status below 100", "HTTP/1.1 099 Low\r\n\r\n", false, []string{"protocol error"}},
	{"status line too short", "HTTP/1.1 20\r\n\r\n", false, []string{"protocol error"}},
	{"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, []string{"status 200 body 0 bytes 35 keep true", "EOF"}},
	{"HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n", false, []string{"protocol error"}},
	{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", false, []string{"protocol error"}},
	{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, []string{"protocol error"}},
	{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, []string{"protocol error"}},
	{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, []string{"protocol error"}},
	{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", false, []string{"protocol error"}},
	{"huge header", "HTTP/1.1 200 OK\r\nX: " + string(bytes.Repeat([]byte("a"), 100<<10)) + "\r\n\r\n", false, []string{"protocol error"}},
	{"huge header without end", "HTTP/1.1 200 OK\r\nX: " + string(bytes.Repeat([]byte("a"), 100<<10)), false, []string{"protocol error"}},
	{"nothing", "", false, []string{"EOF"}},
}

func TestParseAnswers(t *testing.T) {
	for _, tc := range answers {
		t.Run(tc.name, func(t *testing.T) {
			got := parseAll(bytes.NewReader([]byte(tc.stream)), tc.head)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// An answer split across reads at any point parses as the whole one: the
// parser never takes half a line, a chunk size or a status code for a
// whole one.
func TestParseAnswersSplitAnywhere(t *testing.T) {
	for _, tc := range answers {
		if len(tc.stream) > 1000 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			whole := parseAll(bytes.NewReader([]byte(tc.stream)), tc.head)
			if got := parseAll(iotest.OneByteReader(bytes.NewReader([]byte(tc.stream))), tc.head); fmt.Sprint(got) != fmt.Sprint(whole) {
				t.Errorf("one byte at a time: %q, whole: %q", got, whole)
			}
			for i := 1; i < len(tc.stream); i++ {
				r := io.MultiReader(bytes.NewReader([]byte(tc.stream[:i])), bytes.NewReader([]byte(tc.stream[i:])))
				if got := parseAll(r, tc.head); fmt.Sprint(got) != fmt.Sprint(whole) {
					t.Fatalf("split at %d: %q, whole: %q", i, got, whole)
				}
			}
		})
	}
}

// A read error other than the end of the stream ends the answer with it.
func TestParseReadError(t *testing.T) {
	r := io.MultiReader(bytes.NewReader([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")), iotest.ErrReader(iotest.ErrTimeout))
	if got := parseAll(r, false); fmt.Sprint(got) != "[error timeout]" {
		t.Errorf("got %q", got)
	}
}

// FuzzParse: whatever a server sends, the parser ends (an answer, an error
// or the end of the stream) without a panic, counts no more bytes than it
// was given, and reads the same whether the bytes come whole, one at a
// time, or cut at a point of the fuzzer's choice.
func FuzzParse(f *testing.F) {
	for _, tc := range answers {
		f.Add([]byte(tc.stream), uint16(len(tc.stream)/2), tc.head)
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16, head bool) {
		whole := parseAll(bytes.NewReader(stream), head)
		if len(whole) == 0 {
			t.Fatal("no outcome")
		}
		var total int64
		in := newInbuf()
		r := bytes.NewReader(stream)
		for range 64 {
			var a answer
			keep, err := readAnswer(r, &in, head, &a)
			total += a.bytes
			if total > int64(len(stream)) {
				t.Fatalf("counted %d bytes of %d", total, len(stream))
			}
			if err == nil && (a.status < 100 || a.status > 999 || a.body > a.bytes) {
				t.Fatalf("answer %+v", a)
			}
			if err != nil || !keep {
				break
			}
		}
		if got := parseAll(iotest.OneByteReader(bytes.NewReader(stream)), head); fmt.Sprint(got) != fmt.Sprint(whole) {
			t.Fatalf("one byte at a time: %q, whole: %q", got, whole)
		}
		i := int(cut) % (len(stream) + 1)
		r2 := io.MultiReader(bytes.NewReader(stream[:i]), bytes.NewReader(stream[i:]))
		if got := parseAll(r2, head); fmt.Sprint(got) != fmt.Sprint(whole) {
			t.Fatalf("cut at %d: %q, whole: %q", i, got, whole)
		}
	})
}

// BenchmarkParse is the parser alone on the answer of the bench: no
// allocation.
func BenchmarkParse(b *testing.B) {
	var p parser
	b.ReportAllocs()
	b.SetBytes(int64(len(azureAnswer)))
	for b.Loop() {
		var a answer
		p.reset(false)
		if n, done, err := p.feed(&a, []byte(azureAnswer)); !done || err != nil || n != len(azureAnswer) {
			b.Fatal(n, done, err)
		}
	}
}
