package tabular

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
)

// splitter reads CSV records as encoding/csv does with LazyQuotes off and any number of fields
// per record (RFC 4180 quoting, "" inside quotes, quoted newlines, \r\n read as \n, blank
// lines skipped, the same errors), but appends each record's fields to a caller's byte arena
// as offsets instead of allocating a string per record. encoding/csv was over half of reading
// the bank file: an IndexByte call per field, and a string per record, all garbage once
// converted, whose pointers cost write barriers in the batch.
type splitter struct {
	br    *bufio.Reader
	comma byte
	line  int    // physical lines read
	long  []byte // a line longer than br's buffer, assembled
}

// readLine returns the next physical line with "\r\n" turned into "\n" (the last line may lack
// the newline). The slice is valid until the next call.
func (s *splitter) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if len(line) > 0 && err == io.EOF {
		err = nil
		// As encoding/csv: a trailing \r before EOF is dropped.
		if line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
	}
	if len(line) > 0 {
		s.line++
	}
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, err
}

// lengthNL is 1 when b ends in a newline.
func lengthNL(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

// next appends the next record's field bytes to data and each field's start and end offsets
// (in data) to offs, and returns the line the record starts on. At the end of the input it
// returns io.EOF; a malformed record gives a *csv.ParseError.
func (s *splitter) next(data []byte, offs []int32) ([]byte, []int32, int, error) {
	var line []byte
	var err error
	for {
		line, err = s.readLine()
		if err != nil {
			return data, offs, 0, err
		}
		if lengthNL(line) < len(line) {
			break
		}
		// a blank line: skipped, as encoding/csv does
	}
	start := s.line
	body := line[:len(line)-lengthNL(line)]
	if bytes.IndexByte(body, '"') < 0 {
		// The common case, no quotes: copy the line once and cut it at the delimiters.
		base := len(data)
		data = append(data, body...)
		from := base
		for i, c := range body {
			if c == s.comma {
				offs = append(offs, int32(from), int32(base+i))
				from = base + i + 1
			}
		}
		return data, append(offs, int32(from), int32(len(data))), start, nil
	}
	return s.quoted(data, offs, line, start)
}

// quoted is next's field-by-field path for a record holding a quote.
func (s *splitter) quoted(data []byte, offs []int32, line []byte, start int) ([]byte, []int32, int, error) {
	pos := 0 // of line[0] in the physical line, for error columns
	fail := func(col int, err error) ([]byte, []int32, int, error) {
		return data, offs, start, &csv.ParseError{StartLine: start, Line: s.line, Column: col, Err: err}
	}
	for {
		if len(line) == 0 || line[0] != '"' {
			// A field without quotes around it must hold none.
			i := bytes.IndexByte(line, s.comma)
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			if j := bytes.IndexByte(field, '"'); j >= 0 {
				return fail(pos+j+1, csv.ErrBareQuote)
			}
			from := len(data)
			data = append(data, field...)
			offs = append(offs, int32(from), int32(len(data)))
			if i < 0 {
				return data, offs, start, nil
			}
			line, pos = line[i+1:], pos+i+1
			continue
		}
		// A quoted field, possibly over several lines.
		from := len(data)
		line, pos = line[1:], pos+1
		for {
			i := bytes.IndexByte(line, '"')
			switch {
			case i >= 0:
				data = append(data, line[:i]...)
				line, pos = line[i+1:], pos+i+1
				switch {
				case len(line) > 0 && line[0] == '"': // "" is one quote
					data = append(data, '"')
					line, pos = line[1:], pos+1
					continue
				case len(line) > 0 && line[0] == s.comma:
					offs = append(offs, int32(from), int32(len(data)))
					line, pos = line[1:], pos+1
				case lengthNL(line) == len(line):
					return data, append(offs, int32(from), int32(len(data))), start, nil
				default:
					return fail(pos, csv.ErrQuote)
				}
			case len(line) > 0:
				// The field goes on past this line.
				data = append(data, line...)
				var err error
				line, err = s.readLine()
				pos = 0
				if err != nil && err != io.EOF {
					return data, offs, start, err
				}
				if len(line) == 0 {
					return fail(pos+1, csv.ErrQuote) // the file ended inside the quotes
				}
				continue
			default:
				// The last line ended inside the quotes.
				return fail(pos+1, csv.ErrQuote)
			}
			break
		}
	}
}
