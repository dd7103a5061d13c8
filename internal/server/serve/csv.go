package serve

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// decodeCSV reads MLflow's text/csv body: a header row naming columns,
// then one record per line (RFC 4180 quoting, no embedded newlines).
func (l *loaded) decodeCSV(body []byte, sc *scratch, o decodeOpts) (request, error) {
	d := newDecoder(l, body, sc, o)
	d.req.shape = shapeCSV
	err := d.csv(body)
	d.release(sc)
	d.req.rows = d.rows
	return d.req, err
}

func (d *decoder) csv(body []byte) error {
	if !utf8.Valid(body) {
		return badf("CSV line %d: invalid UTF-8: the scoring server only supports UTF-8", 1+bytes.Count(body[:invalidUTF8(body)], []byte{'\n'}))
	}
	// Excel's "CSV UTF-8" starts with a byte order mark, which pandas
	// drops too; left on, it would rename the first column.
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	body = bytes.TrimRight(body, "\r\n")
	if bytes.IndexByte(body, '\n') < 0 {
		return badf("CSV needs a header row and at least one record")
	}
	var fields [][]byte
	for r := -1; body != nil; r++ {
		line := body
		if k := bytes.IndexByte(body, '\n'); k >= 0 {
			line, body = body[:k], body[k+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		var err error
		if fields, err = splitCSV(fields[:0], line); err != nil {
			if r < 0 {
				return badf("CSV header: %v", err)
			}
			return badf("record %d: %v", r, err)
		}
		if r < 0 {
			err = d.csvHeader(fields)
		} else {
			err = d.csvRecord(fields)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) csvHeader(fields [][]byte) error {
	d.resetSeen()
	d.cols = d.cols[:0]
	for _, h := range fields {
		j, err := d.lookup(h, "CSV header", -1)
		if err != nil {
			return err
		}
		d.cols = append(d.cols, j)
	}
	if j := d.missing(); j >= 0 {
		return badf("CSV header: missing column %q", d.l.inputs[j].Name)
	}
	return nil
}

func (d *decoder) csvRecord(fields [][]byte) error {
	r, err := d.addRow()
	if err != nil {
		return err
	}
	if len(fields) != len(d.cols) {
		return badf("record %d: has %d values, the header has %d", r, len(fields), len(d.cols))
	}
	for i, v := range fields {
		j := d.cols[i]
		if j < 0 || len(v) == 0 {
			continue // ignored column, or a missing value
		}
		in := &d.l.inputs[j]
		switch in.Type {
		case "string":
			d.setString(r, j, v)
		case "boolean":
			switch {
			case bytes.EqualFold(v, []byte("true")) || string(v) == "1":
				d.x[r*d.l.nc+j] = d.l.bools[j][1]
			case bytes.EqualFold(v, []byte("false")) || string(v) == "0":
				d.x[r*d.l.nc+j] = d.l.bools[j][0]
			default:
				return badf("record %d, column %q: want true or false, got %q", r, in.Name, clip(string(v)))
			}
		default:
			if s := (scanner{b: v}); !isNumber(&s) {
				return badf("record %d, column %q: want a number, got %q", r, in.Name, clip(string(v)))
			}
			if err := d.setNumber(r, j, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// isNumber reports whether s holds exactly one JSON number.
func isNumber(s *scanner) bool {
	_, err := s.num()
	return err == nil && s.i == len(s.b)
}

// invalidUTF8 is the offset of b's first byte that is not UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// splitCSV appends the fields of one CSV line to dst. A field points
// into line unless it has a doubled quote to undo.
func splitCSV(dst [][]byte, line []byte) ([][]byte, error) {
	for {
		if len(line) == 0 || line[0] != '"' {
			k := bytes.IndexByte(line, ',')
			if k < 0 {
				return append(dst, line), nil
			}
			dst = append(dst, line[:k])
			line = line[k+1:]
			continue
		}
		field := line[1:1]
		copied := false
		i := 1
		for {
			k := bytes.IndexByte(line[i:], '"')
			if k < 0 {
				return nil, fmt.Errorf("unterminated quoted field")
			}
			q := i + k
			doubled := q+1 < len(line) && line[q+1] == '"'
			switch {
			case doubled && !copied:
				field = append([]byte(nil), line[1:q+1]...)
				copied = true
			case doubled:
				field = append(field, line[i:q+1]...)
			case copied:
				field = append(field, line[i:q]...)
			default:
				field = line[1:q]
			}
			if !doubled {
				i = q + 1
				break
			}
			i = q + 2
		}
		dst = append(dst, field)
		line = line[i:]
		if len(line) == 0 {
			return dst, nil
		}
		if line[0] != ',' {
			return nil, fmt.Errorf("text after a quoted field")
		}
		line = line[1:]
	}
}
