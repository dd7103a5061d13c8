package tabular

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
)

// splitAll reads every record with the splitter, as strings.
func splitAll(in string, comma byte) ([][]string, []int, error) {
	s := &splitter{br: bufio.NewReaderSize(strings.NewReader(in), 16), comma: comma}
	var recs [][]string
	var lines []int
	for {
		data, offs, line, err := s.next(nil, nil)
		if err == io.EOF {
			return recs, lines, nil
		}
		if err != nil {
			return recs, lines, err
		}
		rec := make([]string, len(offs)/2)
		for i := range rec {
			rec[i] = string(data[offs[2*i]:offs[2*i+1]])
		}
		recs = append(recs, rec)
		lines = append(lines, line)
	}
}

// csvAll is the reference: encoding/csv as ReadCSV configured it before the splitter.
func csvAll(in string, comma byte) ([][]string, []int, error) {
	r := csv.NewReader(strings.NewReader(in))
	r.Comma = rune(comma)
	r.FieldsPerRecord = -1
	var recs [][]string
	var lines []int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return recs, lines, nil
		}
		if err != nil {
			return recs, lines, err
		}
		line, _ := r.FieldPos(0)
		recs = append(recs, rec)
		lines = append(lines, line)
	}
}

func checkSame(t *testing.T, in string, comma byte) {
	t.Helper()
	got, gotLines, gerr := splitAll(in, comma)
	want, wantLines, werr := csvAll(in, comma)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%q: splitter error %v, encoding/csv error %v", in, gerr, werr)
	}
	var gpe, wpe *csv.ParseError
	if errors.As(gerr, &gpe) && errors.As(werr, &wpe) && (gpe.Err != wpe.Err || gpe.Line != wpe.Line) {
		t.Fatalf("%q: splitter error %v, encoding/csv error %v", in, gerr, werr)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d records %q, encoding/csv %d %q", in, len(got), got, len(want), want)
	}
	for i := range got {
		if strings.Join(got[i], "\x00") != strings.Join(want[i], "\x00") || len(got[i]) != len(want[i]) || gotLines[i] != wantLines[i] {
			t.Fatalf("%q: record %d %q at line %d, encoding/csv %q at line %d", in, i, got[i], gotLines[i], want[i], wantLines[i])
		}
	}
}

var splitCases = []string{
	"a,b,c\n1,2,3\n",
	"a,b\n1,2",              // no final newline
	"a,b\r\n1,2\r\n",        // CRLF
	"a,b\n\n1,2\n\n\n3,4\n", // blank lines
	"a,b\n,\n,,\n",          // empty fields
	`a,b` + "\n" + `"x,y","say ""hi"""` + "\n",
	"a,b\n\"multi\nline\",2\n3,4\n",
	"a,b\n\"multi\r\nline\",2\n",
	"a,b\n\"\",\"\"\n",
	"a,b\n1,x\"y\n",   // bare quote
	"a,b\n\"x\"y,2\n", // extraneous quote
	"a,b\n\"unterminated,2\n",
	"a,b\n\"unterminated\nstill",
	"a\r",
	"a,b\n1,2\r",
	"\"a\"\n",
	"a;b\n1;\"2;3\"\n",
	"x,\"" + strings.Repeat("long ", 20) + "\"," + strings.Repeat("z", 40) + "\n",
	"\n\n",
	"",
	"a,b\n\"q\"\n",
	"a,b\n\"q\"\r\n",
	"a\n\"\"\"\"\n",
}

func TestSplitterMatchesEncodingCSV(t *testing.T) {
	for _, in := range splitCases {
		checkSame(t, in, ',')
		checkSame(t, in, ';')
	}
}

func FuzzSplitter(f *testing.F) {
	for _, in := range splitCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSame(t, in, ',')
	})
}
