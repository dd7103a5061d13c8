package tabular

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func read(t *testing.T, text string, opts ReadOptions) (*Frame, error) {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "in.csv"
	}
	return ReadCSV(context.Background(), strings.NewReader(text), opts)
}

func mustRead(t *testing.T, text string, opts ReadOptions) *Frame {
	t.Helper()
	f, err := read(t, text, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opts     ReadOptions
		want     string // the whole message
	}{
		{"empty", "", ReadOptions{}, "in.csv: empty file: no header row"},
		{"header only", "a,b\n", ReadOptions{}, "in.csv: the file has a header but no data rows"},
		{"too many", "a,b\n1,2\n3,4,5\n", ReadOptions{}, "in.csv:3: too many fields: the row has 3, the header has 2"},
		{"too few", "a,b\n1,2\n3,4\n5\n", ReadOptions{}, "in.csv:4: too few fields: the row has 1, the header has 2"},
		{"too few after quoted newline", "a,b\n\"x\ny\",2\n3\n", ReadOptions{}, "in.csv:4: too few fields: the row has 1, the header has 2"},
		{"duplicate", "a,b,a\n1,2,3\n", ReadOptions{}, `in.csv:1: duplicate column name "a" (columns 1 and 3)`},
		{"target missing", "a,b\n1,2\n", ReadOptions{Target: "y"}, `in.csv: target "y" is not a column; the columns are "a", "b"`},
		{"target single", "a,y\n1,no\n2,no\n3,\n", ReadOptions{Target: "y"}, `in.csv: target "y" has a single value (no) in all 2 rows: nothing to learn`},
		{"target empty", "a,y\n1,\n2,NA\n", ReadOptions{Target: "y"}, `in.csv: target "y" has no values (every cell is missing)`},
		{"forced numeric", "a,b\n1,2\n3,x7\n", ReadOptions{Types: map[string]Type{"b": Numeric}}, `in.csv:3: column "b" is declared numeric but holds "x7"`},
		{"forced boolean", "a,b\n1,true\n3,maybe\n", ReadOptions{Types: map[string]Type{"b": Boolean}}, `in.csv:3: column "b" is declared boolean but holds "maybe"`},
		{"schema unknown column", "a,b\n1,2\n", ReadOptions{Types: map[string]Type{"c": Numeric}}, `in.csv: schema names column "c", which is not a column; the columns are "a", "b"`},
		{"invalid utf8", "a,b\n1,ok\n2,caf\xe9\n", ReadOptions{}, `in.csv:3: invalid UTF-8: byte 0xe9 at byte 6 of the line`},
		{"invalid utf8 header", "a,\xff\n1,2\n", ReadOptions{}, `in.csv:1: invalid UTF-8: byte 0xff at byte 3 of the line`},
		{"bare quote", "a,b\n1,x\"y\n", ReadOptions{}, `in.csv:2: column 4: bare " in non-quoted-field`},
		{"earliest error wins", "a,b,c\n1,2,3\n1,x,3\n1,2,\xff\n", ReadOptions{Types: map[string]Type{"b": Numeric}}, `in.csv:3: column "b" is declared numeric but holds "x"`},
		{"earliest error wins, utf-8 first", "a,b,c\n1,2,3\n1,2,\xff\n1,x,3\n", ReadOptions{Types: map[string]Type{"b": Numeric}}, `in.csv:3: invalid UTF-8: byte 0xff at byte 5 of the line`},
		{"field count before bad utf-8", "a,b\n1,2\n1\n1,\xff\n", ReadOptions{}, `in.csv:3: too few fields: the row has 1, the header has 2`},
		{"truncated utf-8 at the end", "a,b\n1,2\n1,\xc3", ReadOptions{}, `in.csv:3: invalid UTF-8: byte 0xc3 at byte 3 of the line`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(t, tc.in, tc.opts)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n got %q\nwant %q", err, tc.want)
			}
		})
	}
}

// A bad cell deep in a large input is found at its line, whichever worker
// and batch it lands in.
func TestReadErrorLineLargeInput(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b,c,d\n")
	for i := range 50000 {
		if i == 37000 {
			b.WriteString("1,2,oops,4\n")
			continue
		}
		b.WriteString("1,2,3,4\n")
	}
	_, err := read(t, b.String(), ReadOptions{Types: map[string]Type{"c": Numeric}})
	want := `in.csv:37002: column "c" is declared numeric but holds "oops"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestReadTypes(t *testing.T) {
	in := "\xef\xbb\xbfint,float,cat,bool,missing,nan,late\n" +
		"1,1.5,b,true,NA,1,1.50\n" +
		"2,,a,False,,NaN,2\n" +
		"3,-2.25,b,,?,2,x\n" +
		"4,1e3,c,TRUE,null,3,007\n"
	f := mustRead(t, in, ReadOptions{})
	if f.Rows != 4 {
		t.Fatalf("rows %d", f.Rows)
	}
	want := map[string]Type{"int": Numeric, "float": Numeric, "cat": Categorical, "bool": Boolean, "missing": Numeric, "nan": Numeric, "late": Categorical}
	for _, c := range f.Columns {
		if c.Type != want[c.Name] {
			t.Errorf("%s: type %v, want %v", c.Name, c.Type, want[c.Name])
		}
	}
	if c := f.Col("int"); !c.Integer || !reflect.DeepEqual(c.Num, []float64{1, 2, 3, 4}) {
		t.Errorf("int: %+v", c)
	}
	if c := f.Col("float"); c.Integer || !math.IsNaN(c.Num[1]) || c.Num[3] != 1000 {
		t.Errorf("float: %+v", c)
	}
	// Levels by frequency, then by string.
	if c := f.Col("cat"); !reflect.DeepEqual(c.Levels, []string{"b", "a", "c"}) || !reflect.DeepEqual(c.Codes, []int32{0, 1, 0, 2}) {
		t.Errorf("cat: %+v", c)
	}
	if c := f.Col("bool"); !reflect.DeepEqual(c.Codes, []int32{1, 0, -1, 1}) || c.Levels[0] != "False" || c.Levels[1] != "true" {
		t.Errorf("bool: %+v", c)
	}
	if c := f.Col("missing"); c.Integer || c.Missing(0) == false || c.Missing(3) == false {
		t.Errorf("missing: %+v", c)
	}
	if c := f.Col("nan"); !c.Missing(1) || c.Missing(0) || !c.Integer {
		t.Errorf("nan: %+v", c)
	}
	// A column that turns categorical late keeps how its numbers were written.
	if c := f.Col("late"); !reflect.DeepEqual(c.Levels, []string{"007", "1.50", "2", "x"}) {
		t.Errorf("late: levels %q", c.Levels)
	}
}

func TestReadNAValuesAndOverrides(t *testing.T) {
	in := "a,b,c\n1,-,x\n2,3,NA\n3,4,true\n"
	f := mustRead(t, in, ReadOptions{NAValues: []string{"-"}, Types: map[string]Type{"a": Categorical, "c": Categorical}})
	if c := f.Col("a"); c.Type != Categorical || !reflect.DeepEqual(c.Levels, []string{"1", "2", "3"}) {
		t.Errorf("a: %+v", c)
	}
	if c := f.Col("b"); c.Type != Numeric || !c.Missing(0) || c.Num[1] != 3 {
		t.Errorf("b: %+v", c)
	}
	// "NA" is not missing when na_values replaces the default list.
	if c := f.Col("c"); c.Type != Categorical || len(c.Levels) != 3 {
		t.Errorf("c: %+v", c)
	}
	f = mustRead(t, "a,b\n1,yes\n0,no\n", ReadOptions{Types: map[string]Type{"a": Boolean, "b": Boolean}})
	for _, name := range []string{"a", "b"} {
		if c := f.Col(name); c.Type != Boolean || !reflect.DeepEqual(c.Codes, []int32{1, 0}) {
			t.Errorf("%s: %+v", name, c)
		}
	}
}

func TestReadDelimiters(t *testing.T) {
	for _, tc := range []struct {
		in    string
		delim rune
	}{
		{"a;b;c\n1,5;2;\"x;y\"\n", 0},
		{"a\tb\tc\n1,5\t2\t\"x;y\"\n", 0},
		{"\"a,1\";b;c\n1,5;2;\"x;y\"\n", 0},
		{"a;b;c\n1,5;2;\"x;y\"\n", ';'},
	} {
		f := mustRead(t, tc.in, ReadOptions{Delimiter: tc.delim})
		if len(f.Columns) != 3 || f.Col("c").Levels[0] != "x;y" || f.Col("b").Num[0] != 2 {
			t.Errorf("%q: %d columns", tc.in, len(f.Columns))
		}
	}
	// Quoted fields may hold the delimiter, quotes and newlines (RFC 4180).
	f := mustRead(t, "a,b\n\"x, \"\"y\"\"\nz\",1\n", ReadOptions{})
	if got := f.Col("a").Levels[0]; got != "x, \"y\"\nz" {
		t.Errorf("quoted: %q", got)
	}
	if f := mustRead(t, "a|b\n1|2\n", ReadOptions{Delimiter: '|'}); len(f.Columns) != 2 {
		t.Error("delimiter | not used")
	}
	if _, err := read(t, "a:b\n1:2\n", ReadOptions{Delimiter: ':'}); err == nil {
		t.Error("delimiter : accepted")
	}
}

func TestReadLineEndings(t *testing.T) {
	for _, in := range []string{"a,b\r\n1,x\r\n2,y\r\n", "a,b\n1,x\n2,y", "a,b\r\n1,x\r\n\r\n2,y"} {
		f := mustRead(t, in, ReadOptions{})
		if f.Rows != 2 || f.Col("b").Levels[0] != "x" || f.Col("a").Num[1] != 2 {
			t.Errorf("%q: %d rows, levels %q", in, f.Rows, f.Col("b").Levels)
		}
	}
}

func TestReadUnnamedColumn(t *testing.T) {
	f := mustRead(t, ",a\n0,x\n1,y\n", ReadOptions{})
	if f.Columns[0].Name != "Unnamed: 0" {
		t.Errorf("name %q", f.Columns[0].Name)
	}
}

func TestReadCancelled(t *testing.T) {
	var b strings.Builder
	b.WriteString("a\n")
	for range 200000 {
		b.WriteString("1\n")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadCSV(ctx, strings.NewReader(b.String()), ReadOptions{}); err != context.Canceled {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestReadFileSizesBuffers(t *testing.T) {
	var b strings.Builder
	b.WriteString("n,c\n")
	for i := range 30000 {
		b.WriteString(strings.Repeat("1", 1+i%5) + ",x\n")
	}
	p := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(context.Background(), p, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Col("n")
	if f.Rows != 30000 || len(c.Num) != 30000 {
		t.Fatalf("rows %d", f.Rows)
	}
	// The estimate from the first rows leaves little slack.
	if cap(c.Num) > 33000 {
		t.Errorf("cap %d for 30000 rows", cap(c.Num))
	}
}

// A multi-byte character split across reads is fine; a bad byte far into
// a large input is found at its line.
func TestUTF8AcrossReads(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := range 40000 {
		b.WriteString("1,héllo wörld ☃\n")
		if i == 30000 {
			b.WriteString("2,bad \xe9 byte\n")
		}
	}
	_, err := ReadCSV(context.Background(), iotest.OneByteReader(strings.NewReader(b.String()[:200000])), ReadOptions{Name: "x"})
	if err != nil {
		t.Fatalf("one byte at a time: %v", err)
	}
	_, err = read(t, b.String(), ReadOptions{})
	want := "in.csv:30003: invalid UTF-8: byte 0xe9 at byte 7 of the line"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestFastNum(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-12", "0.5", "93.918", "-42.7", "5228.1", "123456789012345", "0.1", "0.3", "999999999999999", "007", "1.50", ".5", "-0.00000000000001"} {
		v, _, ok := fastNum(s)
		w, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || math.Float64bits(v) != math.Float64bits(w) {
			t.Errorf("fastNum(%q) = %v %v, strconv %v", s, v, ok, w)
		}
	}
	// Left to strconv: not plain decimals, or more digits than are exact.
	for _, s := range []string{"", "-", ".", "1.", "1e3", "+1", "1234567890123456", "1.000000000000001", "1.2.3", "NaN", "0x10"} {
		if _, _, ok := fastNum(s); ok {
			t.Errorf("fastNum(%q) ok", s)
		}
	}
}

func TestPlainNumber(t *testing.T) {
	for _, s := range []string{"0", "1", "-12", "0.5", "93.918", "-42.7", "5228.1", "123456789012345"} {
		if !plainNumber(s) {
			t.Errorf("%q: not plain", s)
		}
	}
	for _, s := range []string{"", "-", "007", "1.50", "1.", ".5", "1e3", "+1", " 1", "0.000001", "1234567890123456", "1.2.3"} {
		if plainNumber(s) {
			t.Errorf("%q: plain", s)
		}
	}
	// What plainNumber promises: formatNum gives the spelling back.
	for _, s := range []string{"0", "-12", "0.5", "93.918", "5228.1", "123456789012345", "0.00001", "99999.99999"} {
		v, _ := parseNum(s)
		if got := formatNum(v); plainNumber(s) && got != s {
			t.Errorf("formatNum(%q) = %q", s, got)
		}
	}
}
