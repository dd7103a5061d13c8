package serve

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mlflow-go/mlflow/internal/jsonx"
)

// scanner is a minimal JSON tokenizer over a byte slice. It validates what
// it reads and reports the byte offset of a syntax error; it never
// allocates except when a string needs unescaping into the caller's buffer.
type scanner struct {
	b []byte
	i int
}

// syntaxError is a malformed body; the handler turns it into a 400.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return "malformed JSON at byte " + strconv.Itoa(e.off) + ": " + e.msg
}

func (s *scanner) fail(msg string) error { return &syntaxError{s.i, msg} }

func (s *scanner) failAt(i int, msg string) error {
	s.i = i
	return s.fail(msg)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next significant byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input, want '" + string(c) + "'")
		}
		return s.fail("want '" + string(c) + "', got '" + printable(s.b[s.i]) + "'")
	}
	s.i++
	return nil
}

func printable(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return "\\x" + strconv.FormatUint(uint64(c), 16)
	}
	return string(c)
}

// next advances to the next element of an array or object whose opening
// bracket was consumed. It returns false after consuming the closer.
func (s *scanner) next(closer byte, first bool) (bool, error) {
	c := s.peek()
	if c == closer {
		s.i++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.want(c, closer)
		}
		s.i++
		s.ws()
	}
	return true, nil
}

// want is the error for c where a separator or closer belongs.
func (s *scanner) want(c, closer byte) error {
	if c == 0 {
		return s.fail("unexpected end of input, want ',' or '" + string(closer) + "'")
	}
	return s.fail("want ',' or '" + string(closer) + "', got '" + printable(c) + "'")
}

// key reads an object key and the colon after it.
func (s *scanner) key() (raw []byte, esc bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.fail("want an object key")
	}
	raw, esc, err = s.str()
	if err != nil {
		return nil, false, err
	}
	return raw, esc, s.expect(':')
}

// str reads a string at s.i (which must be '"') and returns the bytes
// between the quotes; esc reports backslash escapes (see unescape).
func (s *scanner) str() (raw []byte, esc bool, err error) {
	// Locals, not s.b and s.i: the loop then keeps them in registers.
	b, i := s.b, s.i+1
	start := i
	var hi byte // the bytes' union: past 0x7f, the string is not ASCII
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			raw = b[start:i]
			// JSON text is UTF-8 (RFC 8259); a value that is not would
			// reach the model as a category nobody can spell.
			if hi >= utf8.RuneSelf && !utf8.Valid(raw) {
				return nil, false, s.failAt(start+invalidUTF8(raw), "invalid UTF-8 in a string")
			}
			s.i = i + 1
			return raw, esc, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return nil, false, s.failAt(i, "unterminated string")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(b) {
					return nil, false, s.failAt(i, "short \\u escape")
				}
				for k := 1; k <= 4; k++ {
					if unhex(b[i+k]) < 0 {
						return nil, false, s.failAt(i, "bad \\u escape")
					}
				}
				i += 5
			default:
				return nil, false, s.failAt(i, "bad escape")
			}
		case c < 0x20:
			return nil, false, s.failAt(i, "control character in string")
		default:
			hi |= c
			i++
		}
	}
	return nil, false, s.failAt(i, "unterminated string")
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unescape appends the decoded form of a validated raw string to dst.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(raw[i+1:]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2 := utf16.DecodeRune(r, rune(hex4(raw[i+3:]))); r2 != utf8.RuneError {
					r = r2
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
	}
	return dst
}

func hex4(b []byte) int {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

// num reads a JSON number and returns its text.
func (s *scanner) num() ([]byte, error) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return nil, s.fail("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return nil, s.fail("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, s.fail("bad number")
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) lit(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.i += len(word)
	return nil
}

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 64

// skip reads and discards one value.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return s.fail("nesting too deep")
	}
	switch c := s.peek(); c {
	case '{':
		s.i++
		for first := true; ; first = false {
			more, err := s.next('}', first)
			if err != nil || !more {
				return err
			}
			if _, _, err := s.key(); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		s.i++
		for first := true; ; first = false {
			more, err := s.next(']', first)
			if err != nil || !more {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := s.str()
		return err
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	case 0:
		return s.fail("unexpected end of input")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			_, err := s.num()
			return err
		}
		return s.fail("unexpected '" + printable(c) + "'")
	}
}

// end checks that nothing but whitespace follows the top-level value.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.fail("data after the top-level value")
	}
	return nil
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = jsonx.AppendStringBody(dst, s)
	return append(dst, '"')
}

// appendPyFloat appends f as Python's json.dumps writes it (repr), so
// answers match what Azure's scoring scripts send: 1.0 not 1, 1e-05,
// NaN and Infinity as Python emits them.
func appendPyFloat(dst []byte, f float64) []byte {
	switch {
	case f != f:
		return append(dst, "NaN"...)
	case f > 1.7976931348623157e308:
		return append(dst, "Infinity"...)
	case f < -1.7976931348623157e308:
		return append(dst, "-Infinity"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	// Decimal exponent is after 'e'.
	exp := 0
	for k := len(e) - 1; k >= 0; k-- {
		if e[k] == 'e' {
			exp, _ = strconv.Atoi(string(e[k+1:]))
			break
		}
	}
	if exp < -4 || exp >= 16 {
		return append(dst, e...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}
