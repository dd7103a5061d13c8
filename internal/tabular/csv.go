package tabular

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// DefaultNAValues are the cells read as missing when ReadOptions.NAValues is
// nil. "NaN" is missing in numeric columns too (it parses as a float), but
// stays a level of a categorical column, as in pandas.
var DefaultNAValues = []string{"", "NA", "N/A", "null", "?"}

// ReadOptions tune ReadCSV.
type ReadOptions struct {
	// Name is the file name used in error messages.
	Name string
	// Delimiter is ',', ';', '|' or '\t'; 0 sniffs it among ',', ';' and
	// '\t' from the header line.
	Delimiter rune
	// NAValues are the cells read as missing; nil means DefaultNAValues.
	// The empty cell is always missing.
	NAValues []string
	// Types forces column types by name; other columns are inferred.
	Types map[string]Type
	// Target, when set, must be a column with at least two distinct values.
	Target string
	// Size is the input size in bytes when known: it sizes the buffers and
	// scales Progress.
	Size int64
	// Progress, when set, is called now and then with the bytes read.
	Progress func(read, total int64)
}

// Error is a user error in a CSV file: the file and, when known, the line.
type Error struct {
	File string
	Line int // 1-based; 0 when the error is about the whole file
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ReadFile reads a CSV file; see ReadCSV.
func ReadFile(ctx context.Context, path string, opts ReadOptions) (*Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if opts.Name == "" {
		opts.Name = path
	}
	if opts.Size == 0 {
		if st, err := f.Stat(); err == nil {
			opts.Size = st.Size()
		}
	}
	return ReadCSV(ctx, f, opts)
}

// missingNaN marks a cell that was an NA value, as opposed to a literal
// "NaN" (math.NaN()), so that a column that turns categorical late can tell
// a missing cell from a "NaN" level.
var missingNaN = math.Float64frombits(0x7ff8_0000_0000_0bad)

// maxSpellings bounds the per-column memory of how numbers were written. A
// column that is numeric for this many distinct unusually written values
// ("007", "1.50") and then meets text gets the rest re-spelled by formatNum.
const maxSpellings = 1 << 16

// builder accumulates one column. While a column may still be numeric it is
// kept as float64s plus the first spelling of each value; once a cell is not
// a number it becomes a dictionary of strings (codes + levels). Nothing keeps
// all cells as strings, so memory stays near the columnar size.
type builder struct {
	name   string
	forced Type
	force  bool

	numeric bool // every present cell so far parsed as a float
	integer bool
	num     []float64
	// spell maps a value to how it was first written (for a late switch to
	// categorical); nil once it outgrew maxSpellings.
	spell    map[float64]string
	nanSpell string // spelling of a literal NaN seen, if any

	codes  []int32
	last   int32 // code of the last interned value, -1 before any
	dict   map[string]int32
	levels []string
	counts []int
}

func newBuilder(name string, forced Type, force bool, capHint int) *builder {
	b := &builder{name: name, forced: forced, force: force, last: -1}
	if !force || forced == Numeric {
		b.numeric = true
		b.integer = true
		b.num = make([]float64, 0, capHint)
		if !force {
			b.spell = map[float64]string{}
		}
	} else {
		b.toStrings(capHint)
	}
	return b
}

func (b *builder) toStrings(capHint int) {
	b.numeric = false
	b.dict = map[string]int32{}
	b.codes = make([]int32, 0, max(capHint, len(b.num)))
	for _, v := range b.num {
		if math.Float64bits(v) == math.Float64bits(missingNaN) {
			b.codes = append(b.codes, -1)
			continue
		}
		var s string
		switch {
		case v != v:
			s = b.nanSpell
		case b.spell != nil:
			s = b.spell[v]
		}
		if s == "" {
			s = formatNum(v)
		}
		b.codes = append(b.codes, b.intern(s))
	}
	b.num, b.spell = nil, nil
}

func (b *builder) reserve(n int) {
	if b.numeric {
		b.num = slices.Grow(b.num, n-len(b.num))
	} else {
		b.codes = slices.Grow(b.codes, n-len(b.codes))
	}
}

func (b *builder) intern(s string) int32 {
	// Skewed columns repeat their last value often; a string compare is
	// cheaper than a hash.
	if b.last >= 0 && b.levels[b.last] == s {
		b.counts[b.last]++
		return b.last
	}
	c, ok := b.dict[s]
	if !ok {
		c = int32(len(b.levels))
		// s points into its whole record's string: copy, so the level
		// does not keep every record it came from alive.
		s = strings.Clone(s)
		b.dict[s] = c
		b.levels = append(b.levels, s)
		b.counts = append(b.counts, 0)
	}
	b.counts[c]++
	b.last = c
	return c
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// fastNum parses the common spellings, -?digits(.digits)? with at most 15
// digits, without strconv: the mantissa and the power of ten are exact
// float64s, so one division is correctly rounded (Clinger's fast path, as
// strconv's own). plain reports whether formatNum gives s back. ok=false
// means "ask strconv", not "not a number".
func fastNum(s string) (v float64, plain, ok bool) {
	i := 0
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		i = 1
	}
	var mant uint64
	digits, frac := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return 0, false, false
		}
	}
	if digits == 0 || digits > 15 || frac == 0 {
		return 0, false, false
	}
	v = float64(mant)
	if frac > 0 {
		v /= pow10[frac]
	}
	if neg {
		v = -v
	}
	return v, plainNumber(s), true
}

// plainNumber reports whether formatNum reproduces s exactly: an optional
// minus, digits without a leading zero, an optional fraction not ending in
// zero, at most 15 significant characters (which float64 holds exactly) and
// no tiny magnitudes (formatNum writes those with an exponent).
func plainNumber(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 15 || strings.HasPrefix(s, "0.00000") {
		return false
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	switch {
	case s[0] == '0' && len(s) > 1 && s[1] != '.':
		return false
	case dot == 0 || dot == len(s)-1:
		return false
	case dot > 0 && s[len(s)-1] == '0':
		return false
	}
	return true
}

func parseNum(s string) (float64, bool) {
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ') {
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// ParseFloat reports out-of-range numbers with ±Inf: still numbers.
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return v, true
		}
		return 0, false
	}
	return v, true
}

// add appends one cell; it returns an error message for a forced-numeric
// column holding text.
func (b *builder) add(s string, na bool, capHint int) string {
	if na {
		if b.numeric {
			b.num = append(b.num, missingNaN)
		} else {
			b.codes = append(b.codes, -1)
		}
		return ""
	}
	if b.numeric {
		v, plain, ok := fastNum(s)
		if !ok {
			v, ok = parseNum(s)
		}
		if ok {
			b.num = append(b.num, v)
			switch {
			case v != v:
				if b.nanSpell == "" {
					b.nanSpell = strings.Clone(s)
				}
			case b.integer && (v != math.Trunc(v) || math.IsInf(v, 0)):
				b.integer = false
			}
			// Only spellings formatNum would not reproduce need keeping,
			// which spares a map lookup for almost every cell.
			if b.spell != nil && v == v && !plain {
				if _, ok := b.spell[v]; !ok {
					if len(b.spell) >= maxSpellings {
						b.spell = nil
					} else {
						b.spell[v] = strings.Clone(s)
					}
				}
			}
			return ""
		}
		if b.force {
			return fmt.Sprintf("column %q is declared numeric but holds %q", b.name, s)
		}
		b.toStrings(capHint)
	}
	if b.force && b.forced == Boolean {
		if _, ok := boolValue(s, true); !ok {
			return fmt.Sprintf("column %q is declared boolean but holds %q", b.name, s)
		}
	}
	b.codes = append(b.codes, b.intern(s))
	return ""
}

func boolValue(s string, loose bool) (v int32, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	if loose {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "yes", "y", "t":
			return 1, true
		case "0", "no", "n", "f":
			return 0, true
		}
	}
	return -1, false
}

// finish turns the builder into a column: numeric, boolean (every level is
// a true/false literal, or the type was forced) or categorical with levels
// ordered by frequency, then by string.
func (b *builder) finish() *Column {
	c := &Column{Name: b.name}
	if b.numeric {
		c.Type = Numeric
		c.Num = b.num
		present := false
		for i, v := range c.Num {
			if v != v {
				// One NaN for every missing cell, whatever its origin.
				c.Num[i] = math.NaN()
			} else {
				present = true
			}
		}
		c.Integer = b.integer && present
		return c
	}
	// Spellings may vary ("True", "true"); more levels than that is not a
	// boolean column.
	isBool := !b.force && len(b.levels) > 0 && len(b.levels) <= 8
	if isBool {
		for _, l := range b.levels {
			if _, ok := boolValue(l, false); !ok {
				isBool = false
				break
			}
		}
	}
	if isBool || (b.force && b.forced == Boolean) {
		c.Type = Boolean
		c.Levels = []string{"false", "true"}
		seen := [2]bool{}
		remap := make([]int32, len(b.levels))
		for i, l := range b.levels {
			v, _ := boolValue(l, true)
			remap[i] = v
			if !seen[v] {
				seen[v] = true
				c.Levels[v] = l
			}
		}
		for i, code := range b.codes {
			if code >= 0 {
				b.codes[i] = remap[code]
			}
		}
		c.Codes = b.codes
		return c
	}
	c.Type = Categorical
	order := make([]int32, len(b.levels))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		if b.counts[x] != b.counts[y] {
			return b.counts[y] - b.counts[x]
		}
		return strings.Compare(b.levels[x], b.levels[y])
	})
	remap := make([]int32, len(order))
	c.Levels = make([]string, len(order))
	for newCode, old := range order {
		remap[old] = int32(newCode)
		c.Levels[newCode] = b.levels[old]
	}
	for i, code := range b.codes {
		if code >= 0 {
			b.codes[i] = remap[code]
		}
	}
	c.Codes = b.codes
	return c
}

// ReadCSV reads a CSV stream (RFC 4180, UTF-8 with or without a BOM, a
// header row) into typed columns. Every user error is an *Error naming the
// file and, where there is one, the line.
func ReadCSV(ctx context.Context, r io.Reader, opts ReadOptions) (*Frame, error) {
	name := opts.Name
	if name == "" {
		name = "input"
	}
	fail := func(line int, format string, args ...any) error {
		return &Error{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(&utf8Reader{r: cr, name: name, line: 1}, 1<<16)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	delim := opts.Delimiter
	if delim == 0 {
		delim = sniff(br)
	}
	if delim != ',' && delim != ';' && delim != '\t' && delim != '|' {
		return nil, fmt.Errorf("delimiter %q: want one of ',', ';', '|' or tab", delim)
	}
	cs := &splitter{br: br, comma: byte(delim)}

	csvErr := func(err error) error {
		var fe *Error
		if errors.As(err, &fe) {
			return fe
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return fail(pe.Line, "column %d: %v", pe.Column, pe.Err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}

	hdata, hoffs, _, err := cs.next(nil, nil)
	if err == io.EOF {
		return nil, fail(0, "empty file: no header row")
	}
	if err != nil {
		return nil, csvErr(err)
	}
	header := make([]string, len(hoffs)/2)
	for i := range header {
		header[i] = string(hdata[hoffs[2*i]:hoffs[2*i+1]])
	}
	names := make([]string, len(header))
	index := map[string]int{}
	for i, h := range header {
		if h == "" {
			// pandas' name for an unnamed (index) column.
			h = fmt.Sprintf("Unnamed: %d", i)
		}
		if j, dup := index[h]; dup {
			return nil, fail(1, "duplicate column name %q (columns %d and %d)", h, j+1, i+1)
		}
		index[h] = i
		names[i] = strings.Clone(h)
	}
	columnList := func() string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = strconv.Quote(n)
		}
		return strings.Join(q, ", ")
	}
	if opts.Target != "" {
		if _, ok := index[opts.Target]; !ok {
			return nil, fail(0, "target %q is not a column; the columns are %s", opts.Target, columnList())
		}
	}
	for _, col := range sortedTypeKeys(opts.Types) {
		if _, ok := index[col]; !ok {
			return nil, fail(0, "schema names column %q, which is not a column; the columns are %s", col, columnList())
		}
	}

	naValues := opts.NAValues
	if naValues == nil {
		naValues = DefaultNAValues
	}
	// A handful of short strings: a length check and a scan beat hashing
	// every cell.
	maxNA := 0
	var naFirst [256]bool
	for _, v := range naValues {
		maxNA = max(maxNA, len(v))
		if v != "" {
			naFirst[v[0]] = true
		}
	}
	isNA := func(s string) bool {
		if s == "" {
			return true
		}
		if len(s) > maxNA || !naFirst[s[0]] {
			return false
		}
		for _, v := range naValues {
			if s == v {
				return true
			}
		}
		return false
	}

	builders := make([]*builder, len(names))
	for i, n := range names {
		t, force := opts.Types[n]
		builders[i] = newBuilder(n, t, force, sampleRows)
	}

	rows, err := fill(ctx, cs, cr, br, builders, opts, isNA, fail, csvErr)
	if err != nil {
		return nil, err
	}
	if rows == 0 {
		return nil, fail(0, "the file has a header but no data rows")
	}
	if opts.Progress != nil {
		opts.Progress(cr.n, opts.Size)
	}
	f := &Frame{Rows: rows, Target: opts.Target, Columns: make([]*Column, len(names))}
	for i, b := range builders {
		f.Columns[i] = b.finish()
		builders[i] = nil
	}
	if opts.Target != "" {
		if err := checkTarget(f.Col(opts.Target)); err != nil {
			return nil, fail(0, "%v", err)
		}
	}
	return f, nil
}

func checkTarget(c *Column) error {
	present := 0
	first := -1
	distinct := false
	for i := range c.Len() {
		if c.Missing(i) {
			continue
		}
		present++
		if first < 0 {
			first = i
		} else if !distinct && c.value(i) != c.value(first) {
			distinct = true
		}
	}
	switch {
	case present == 0:
		return fmt.Errorf("target %q has no values (every cell is missing)", c.Name)
	case !distinct:
		return fmt.Errorf("target %q has a single value (%s) in all %d rows: nothing to learn", c.Name, c.Format(first), present)
	}
	return nil
}

func sortedTypeKeys(m map[string]Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sniff picks the delimiter among ',', ';' and tab that occurs most often
// outside quotes in the header line; ',' when none does.
func sniff(br *bufio.Reader) rune {
	buf, _ := br.Peek(1 << 16)
	counts := map[byte]int{}
	quoted := false
	for _, c := range buf {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		if c == ',' || c == ';' || c == '\t' {
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return rune(best)
}

// utf8Reader checks that the stream is UTF-8 on the bytes as they pass,
// much faster than cell by cell. It hands over the valid bytes before a bad
// sequence first, so every earlier row is read (and its errors found)
// before the UTF-8 error, which names the physical line.
type utf8Reader struct {
	r    io.Reader
	name string
	line int    // of the first byte not yet returned
	col  int    // bytes of that line already returned
	tail []byte // an incomplete sequence at the end of the last read
	err  error  // sticky, an *Error
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if len(p) < 8 {
		return 0, io.ErrShortBuffer
	}
	k := copy(p, u.tail)
	u.tail = u.tail[:0]
	n, err := u.r.Read(p[k:])
	n += k
	buf := p[:n]
	good := validPrefix(buf)
	if good < n && err == nil && n-good < utf8.UTFMax && !utf8.FullRune(buf[good:]) {
		// A sequence cut by the read boundary: keep it for the next read.
		u.tail = append(u.tail, buf[good:]...)
		n = good
		buf = buf[:n]
	} else if good < n {
		lineStart := bytes.LastIndexByte(buf[:good], '\n') + 1
		at := good - lineStart + 1
		if lineStart == 0 {
			at += u.col // the line began in an earlier read
		}
		u.err = &Error{File: u.name, Line: u.line + bytes.Count(buf[:good], []byte{'\n'}),
			Msg: fmt.Sprintf("invalid UTF-8: byte 0x%02x at byte %d of the line", buf[good], at)}
		// The lines before the bad one are handed over first, so they
		// are parsed (and their errors found) as usual.
		return lineStart, nil
	}
	if nl := bytes.Count(buf, []byte{'\n'}); nl > 0 {
		u.line += nl
		u.col = n - (bytes.LastIndexByte(buf, '\n') + 1)
	} else {
		u.col += n
	}
	return n, err
}

// validPrefix is the length of b's longest valid UTF-8 prefix.
func validPrefix(b []byte) int {
	if utf8.Valid(b) {
		return len(b)
	}
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return i
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Len is the column's row count.
func (c *Column) Len() int {
	if c.Type == Numeric {
		return len(c.Num)
	}
	return len(c.Codes)
}

// value is a comparable form of row i (for distinctness checks).
func (c *Column) value(i int) float64 {
	if c.Type == Numeric {
		return c.Num[i]
	}
	return float64(c.Codes[i])
}

// Format renders row i as text: "" when missing.
func (c *Column) Format(i int) string {
	if c.Missing(i) {
		return ""
	}
	if c.Type == Numeric {
		return formatNum(c.Num[i])
	}
	return c.Levels[c.Codes[i]]
}

// formatNum spells numbers in the shortest form that reads back exactly,
// without an exponent unless the magnitude is extreme (1000000, not 1e+06).
func formatNum(v float64) string {
	if a := math.Abs(v); a == 0 || (a >= 1e-5 && a < 1e21) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

const (
	sampleRows = 8192 // rows read before the buffers are sized for the file
	batchRows  = 1024
)

// batch is a run of records handed from the CSV reader to the column
// workers. The strings point into encoding/csv's per-record allocation.
type batch struct {
	// data holds the batch's field bytes; offs each field's start and end in it, rows ×
	// columns, row-major. The strings the builders see point into data, which is reused
	// once every worker is done with the batch: a builder copies what it keeps.
	data    []byte
	offs    []int32
	lines   []int
	reserve int          // when > 0, grow the columns to this many rows first
	pending atomic.Int32 // workers yet to process it
}

// field is field k (row-major) as a string over data, without a copy.
func (bt *batch) field(k int) string {
	a, b := bt.offs[2*k], bt.offs[2*k+1]
	if a == b {
		return ""
	}
	return unsafe.String(&bt.data[a], b-a)
}

type cellError struct {
	line int
	msg  string
}

// fill reads the records and feeds them to the builders. Parsing CSV and
// converting cells each take about half the time, so one goroutine reads
// while workers, each owning a share of the columns, convert: the file is
// read once, in order, with a few batches in flight.
func fill(ctx context.Context, cs *splitter, cr *countingReader, br *bufio.Reader,
	builders []*builder, opts ReadOptions, isNA func(string) bool,
	fail func(int, string, ...any) error, csvErr func(error) error) (int, error) {
	ncols := len(builders)
	nw := max(1, min(runtime.GOMAXPROCS(0), ncols, 4))
	free := make(chan *batch, 4)
	for range cap(free) {
		free <- &batch{offs: make([]int32, 0, 2*batchRows*ncols), lines: make([]int, 0, batchRows)}
	}
	work := make([]chan *batch, nw)
	errs := make([]*cellError, nw)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range nw {
		work[w] = make(chan *batch, cap(free))
		wg.Add(1)
		go func() {
			defer wg.Done()
			capHint := sampleRows
			for bt := range work[w] {
				if bt.reserve > 0 {
					capHint = bt.reserve
					for i := w; i < ncols; i += nw {
						builders[i].reserve(capHint)
					}
				}
				if errs[w] == nil {
					errs[w] = convert(bt, builders, w, nw, isNA, capHint)
					if errs[w] != nil {
						failed.Store(true)
					}
				}
				if bt.pending.Add(-1) == 0 {
					bt.data, bt.offs, bt.lines, bt.reserve = bt.data[:0], bt.offs[:0], bt.lines[:0], 0
					free <- bt
				}
			}
		}()
	}
	send := func(bt *batch) {
		bt.pending.Store(int32(nw))
		for _, ch := range work {
			ch <- bt
		}
	}

	rows := 0
	var readErr error
	bt := <-free
	for !failed.Load() {
		nd, no := len(bt.data), len(bt.offs)
		data, offs, line, err := cs.next(bt.data, bt.offs)
		bt.data, bt.offs = data, offs
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = csvErr(err)
			break
		}
		if nf := (len(offs) - no) / 2; nf != ncols {
			which := "too many"
			if nf < ncols {
				which = "too few"
			}
			readErr = fail(line, "%s fields: the row has %d, the header has %d", which, nf, ncols)
			bt.data, bt.offs = bt.data[:nd], bt.offs[:no]
			break
		}
		bt.lines = append(bt.lines, line)
		rows++
		if rows == sampleRows && opts.Size > 0 {
			// Size the columns once from the bytes per row so far: a large
			// file then needs no regrowth (which would briefly hold two
			// copies of a column) and little slack.
			if consumed := cr.n - int64(br.Buffered()); consumed > 0 {
				bt.reserve = max(rows, int(float64(opts.Size)/float64(consumed)*float64(rows)*1.02))
			}
		}
		if len(bt.lines) == batchRows {
			send(bt)
			if rows&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					readErr = err
					bt = nil
					break
				}
				if opts.Progress != nil {
					opts.Progress(cr.n, opts.Size)
				}
			}
			bt = <-free
		}
	}
	if bt != nil && len(bt.lines) > 0 {
		send(bt)
	}
	for _, ch := range work {
		close(ch)
	}
	wg.Wait()
	// Report the earliest error in the file, whoever found it.
	var first *cellError
	for _, e := range errs {
		if e != nil && (first == nil || e.line < first.line) {
			first = e
		}
	}
	if first != nil {
		var fe *Error
		if readErr == nil || !errors.As(readErr, &fe) || fe.Line == 0 || first.line <= fe.Line {
			return 0, fail(first.line, "%s", first.msg)
		}
	}
	if readErr != nil {
		return 0, readErr
	}
	if opts.Progress != nil {
		opts.Progress(cr.n, opts.Size)
	}
	return rows, nil
}

// convert adds worker w's columns of one batch to their builders.
func convert(bt *batch, builders []*builder, w, nw int, isNA func(string) bool, capHint int) *cellError {
	ncols := len(builders)
	var first *cellError
	for i := w; i < ncols; i += nw {
		b := builders[i]
		for r, line := range bt.lines {
			if first != nil && line >= first.line {
				break // only an earlier error matters
			}
			s := bt.field(r*ncols + i)
			if msg := b.add(s, isNA(s), capHint); msg != "" {
				first = &cellError{line, msg}
				break
			}
		}
	}
	return first
}
