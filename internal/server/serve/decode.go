package serve

import (
	"fmt"
	"math"
	"strconv"
)

// shape is the request body form, which also decides the answer's form.
type shape uint8

const (
	shapeNone      shape = iota
	shapeClassic         // Azure {"data": [...]}
	shapeInputs          // Azure {"Inputs": {"data": [...]}}
	shapeSplit           // MLflow dataframe_split
	shapeRecords         // MLflow dataframe_records
	shapeInstances       // MLflow instances
	shapeColumns         // MLflow inputs
	shapeCSV             // MLflow text/csv
	shapeOIP             // Open Inference Protocol tensors
)

// protocol picks the accepted shapes and the error format.
type protocol uint8

const (
	protoAzure protocol = iota
	protoMLflow
	protoOIP
	protoOther
)

func (p protocol) String() string {
	return [...]string{"azure", "mlflow", "oip", "other"}[p]
}

// DefaultMaxRows bounds the rows of one request. Each row costs 8 bytes
// per column however few bytes of body it took, so the bound keeps a
// request's memory near its body's size; bigger batches belong in a
// batch job.
const DefaultMaxRows = 100_000

// decodeOpts are the endpoint's rules for the decoder.
type decodeOpts struct {
	// maxRows answers 413 past it; DefaultMaxRows when 0.
	maxRows int
	// strict refuses columns the model does not have. Otherwise they are
	// ignored, as MLflow's scoring server and Azure's scoring scripts do
	// (and pandas' to_csv writes an index column).
	strict bool
}

// output is an OIP output tensor a request asks for.
type output uint8

const (
	outPredict output = iota + 1
	outProba
)

// maxIgnored bounds the ignored column names a request keeps for the log.
const maxIgnored = 16

// request is what the decoder learned besides the rows.
type request struct {
	shape shape
	rows  int
	proba bool // predict_proba
	// outs are the OIP outputs asked for, in order; none means predict.
	outs  [2]output
	nouts int
	// oipID is the request's "id" as a raw JSON string literal, echoed.
	oipID []byte
	// ignored names the columns the model does not have, which were
	// skipped (the first maxIgnored distinct ones).
	ignored []string
}

// badRequest is a client error; status is 400 unless set.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &badRequest{400, fmt.Sprintf(format, args...)}
}

// decoder fills the row-major buffer x (rows * nc) of one request.
type decoder struct {
	s    scanner
	l    *loaded
	opts decodeOpts
	req  request
	x    []float64
	seen []bool
	hint int    // the column lookup tries first
	tmp  []byte // value unescape scratch
	key  []byte // key unescape scratch, apart so a key outlives a value
	rows int
	// colRows is the length of the first column of a columnar body, -1
	// until one is read.
	colRows int
	// src is the whole body; its length bounds the rows (see grow).
	src []byte
	// nan is a row of NaN, what a new row starts as.
	nan []float64
	// cols maps positional cells to model columns (dataframe_split, CSV);
	// -1 is an ignored column.
	cols []int
}

func newDecoder(l *loaded, body []byte, sc *scratch, o decodeOpts) decoder {
	if o.maxRows <= 0 {
		o.maxRows = DefaultMaxRows
	}
	return decoder{
		s: scanner{b: body}, l: l, opts: o, colRows: -1, src: body,
		x: sc.x[:0], seen: sc.seen[:0], tmp: sc.tmp[:0], key: sc.key[:0], cols: sc.cols[:0],
		nan: sc.nanRow(l.nc),
	}
}

func (d *decoder) release(sc *scratch) {
	sc.x, sc.seen, sc.tmp, sc.key, sc.cols = d.x, d.seen, d.tmp, d.key, d.cols
}

// decode parses body for proto into sc's row buffer.
func (l *loaded) decode(proto protocol, body []byte, sc *scratch, o decodeOpts) (request, error) {
	d := newDecoder(l, body, sc, o)
	err := d.top(proto)
	d.release(sc)
	req := d.req
	if err != nil {
		return req, err
	}
	req.rows = d.rows
	if d.rows == 0 {
		return req, badf("no records: send at least one row")
	}
	return req, nil
}

// list walks the elements of an array or the members of an object: the
// one loop of every layout, in bufio.Scanner's shape:
//
//	l := d.list('{', "Inputs must be an object")
//	for d.next(&l) {
//		// l.key names the member (objects), l.i counts from 0; consume
//		// the value.
//	}
//	if l.err != nil { ... }
type list struct {
	closer byte
	i      int
	// key is the current member's key, unescaped; it is valid until the
	// next key is read, nested ones included.
	key []byte
	err error
}

// list opens the array ('[') or object ('{') at the cursor; anything
// else is refused with notList.
func (d *decoder) list(open byte, notList string) list {
	l := list{closer: ']', i: -1}
	if open == '{' {
		l.closer = '}'
	}
	if d.s.peek() != open {
		l.err = badf("%s", notList)
		return l
	}
	d.s.i++
	return l
}

// next advances to the next element, reading a member's key; it is false
// after the closer, or on malformed JSON, kept in l.err.
func (d *decoder) next(l *list) bool {
	if l.err != nil {
		return false
	}
	// scanner.next, inline: this runs for every value of a body.
	s := &d.s
	c := s.peek()
	if c == l.closer {
		s.i++
		return false
	}
	if l.i >= 0 {
		if c != ',' {
			l.err = s.want(c, l.closer)
			return false
		}
		s.i++
		s.ws()
	}
	l.i++
	if l.closer == '}' {
		raw, esc, err := d.s.key()
		if err != nil {
			l.err = err
			return false
		}
		if esc {
			d.key = unescape(d.key[:0], raw)
			raw = d.key
		}
		l.key = raw
	}
	return true
}

// raw reads a string value without copying it unless it has escapes,
// refusing anything else with notString.
func (d *decoder) raw(notString string) ([]byte, error) {
	if d.s.peek() != '"' {
		return nil, badf("%s", notString)
	}
	raw, esc, err := d.s.str()
	if err != nil || !esc {
		return raw, err
	}
	return unescape(nil, raw), nil
}

func (d *decoder) top(proto protocol) error {
	s := &d.s
	if c := s.peek(); c != '{' {
		if c == 0 {
			return badf("empty body: send a JSON object")
		}
		if c == '[' && proto == protoMLflow {
			return badf("%s", mlflowShapeMsg)
		}
		if err := s.skip(0); err != nil {
			return err
		}
		return badf("the body must be a JSON object")
	}
	var split splitSpans
	l := d.list('{', "")
	for d.next(&l) {
		var err error
		switch proto {
		case protoAzure:
			err = d.azureMember(l.key)
		case protoMLflow:
			err = d.mlflowMember(l.key, &split)
		default:
			err = d.oipMember(l.key)
		}
		if err != nil {
			return err
		}
	}
	if l.err != nil {
		return l.err
	}
	if err := s.end(); err != nil {
		return err
	}
	if d.req.shape == shapeSplit {
		if err := d.split(split); err != nil {
			return err
		}
	}
	if d.req.shape == shapeNone {
		switch proto {
		case protoAzure:
			return badf("A value is not provided for the 'data' parameter: send {\"data\": [...]} or {\"Inputs\": {\"data\": [...]}}")
		case protoMLflow:
			return badf("%s", mlflowShapeMsg)
		default:
			return badf("inputs is required: send {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, ...]}")
		}
	}
	return nil
}

func (d *decoder) azureMember(k []byte) error {
	switch string(k) {
	case "data":
		if err := d.setShape(shapeClassic); err != nil {
			return err
		}
		return d.rowsArray("data")
	case "method":
		return d.method()
	case "Inputs":
		if err := d.setShape(shapeInputs); err != nil {
			return err
		}
		return d.inputsObject()
	case "GlobalParameters":
		return d.globalParameters()
	}
	return d.s.skip(1)
}

func (d *decoder) mlflowMember(k []byte, split *splitSpans) error {
	switch string(k) {
	case "dataframe_records":
		if err := d.setShape(shapeRecords); err != nil {
			return err
		}
		return d.rowsArray("dataframe_records")
	case "instances":
		if err := d.setShape(shapeInstances); err != nil {
			return err
		}
		return d.rowsArray("instances")
	case "inputs":
		if err := d.setShape(shapeColumns); err != nil {
			return err
		}
		switch d.s.peek() {
		case '{':
			return d.columnsObject()
		case '[':
			return d.rowsArray("inputs")
		}
		return badf("inputs must be an object of columns or an array of records")
	case "dataframe_split":
		if err := d.setShape(shapeSplit); err != nil {
			return err
		}
		return d.splitSpans(split)
	case "params":
		return d.mlflowParams()
	}
	// Anything else: MLflow ignores unknown parameters for models without
	// a params schema.
	return d.s.skip(1)
}

func (d *decoder) oipMember(k []byte) error {
	s := &d.s
	switch string(k) {
	case "inputs":
		if err := d.setShape(shapeOIP); err != nil {
			return err
		}
		return d.tensors()
	case "id":
		if s.peek() != '"' {
			return badf("id must be a string")
		}
		start := s.i
		if _, _, err := s.str(); err != nil {
			return err
		}
		d.req.oipID = s.b[start:s.i]
		return nil
	case "outputs":
		return d.oipOutputs()
	}
	return s.skip(1) // parameters
}

const mlflowShapeMsg = "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"

func (d *decoder) setShape(sh shape) error {
	req := &d.req
	if req.shape != shapeNone {
		if req.shape >= shapeSplit && sh >= shapeSplit && sh <= shapeColumns {
			return badf("%s", mlflowShapeMsg)
		}
		return badf("the body holds two inputs; send only one of \"data\" and \"Inputs\"")
	}
	req.shape = sh
	return nil
}

func (d *decoder) method() error {
	m, err := d.raw("method must be a string: \"predict\" or \"predict_proba\"")
	if err != nil {
		return err
	}
	switch string(m) {
	case "predict":
		d.req.proba = false
	case "predict_proba":
		if d.l.nout < 2 {
			return badf("method predict_proba needs a classification model; %s is a regression model", d.l.name)
		}
		d.req.proba = true
	default:
		return badf("method %q is not supported: use \"predict\" or \"predict_proba\"", clip(string(m)))
	}
	return nil
}

// globalParameters reads {"method": ...}; older v2 scoring files send a
// bare number there, which is accepted and ignored.
func (d *decoder) globalParameters() error {
	if d.s.peek() != '{' {
		return d.s.skip(1)
	}
	l := d.list('{', "")
	for d.next(&l) {
		var err error
		if string(l.key) == "method" {
			err = d.method()
		} else {
			err = d.s.skip(2)
		}
		if err != nil {
			return err
		}
	}
	return l.err
}

func (d *decoder) inputsObject() error {
	found := false
	l := d.list('{', "Inputs must be an object: {\"Inputs\": {\"data\": [...]}}")
	for d.next(&l) {
		var err error
		if string(l.key) == "data" {
			found = true
			err = d.rowsArray("Inputs.data")
		} else {
			err = d.s.skip(2)
		}
		if err != nil {
			return err
		}
	}
	if l.err == nil && !found {
		return badf("A value is not provided for the 'data' parameter: send {\"Inputs\": {\"data\": [...]}}")
	}
	return l.err
}

// addRow appends one row of NaN cells and returns its index.
func (d *decoder) addRow() (int, error) {
	if d.rows >= d.opts.maxRows {
		return 0, d.tooManyRows()
	}
	d.x = append(d.x, d.nan...)
	d.rows++
	return d.rows - 1, nil
}

func (d *decoder) tooManyRows() error {
	return &badRequest{413, fmt.Sprintf("the request has more than %d rows, this endpoint's limit (max_rows): send smaller batches", d.opts.maxRows)}
}

// grow adds n rows at once for a columnar body, whose first column says
// how many rows there are before any other column is read. Every column
// must have n values of at least one byte and a separator each, so a
// body shorter than 2*n*nc bytes cannot be complete: refusing it here
// keeps a short body from reserving rows for columns it never sends.
func (d *decoder) grow(what string, j, n int) error {
	if n > d.opts.maxRows {
		return d.tooManyRows()
	}
	if n > len(d.src)/(2*d.l.nc) {
		return badf("%s %q has %d values, more than a %d-byte body can hold for each of the model's %d columns", what, d.l.inputs[j].Name, n, len(d.src), d.l.nc)
	}
	if need := n * d.l.nc; cap(d.x) < need {
		d.x = make([]float64, need)
	} else {
		d.x = d.x[:need]
	}
	for i := range d.x {
		d.x[i] = math.NaN()
	}
	d.rows = n
	return nil
}

// rowsArray reads an array of records (objects keyed by column) or of
// positional rows (arrays in the model's column order).
func (d *decoder) rowsArray(field string) error {
	switch d.s.peek() {
	case '[':
	case '{':
		return badf("%s must be an array of records, got an object", field)
	default:
		return badf("%s must be an array of records", field)
	}
	l := d.list('[', "")
	for d.next(&l) {
		r, err := d.addRow()
		if err != nil {
			return err
		}
		switch d.s.peek() {
		case '{':
			err = d.record(r)
		case '[':
			err = d.positional(r, nil)
		default:
			err = badf("record %d: want an object of columns, got %s", r, d.token())
		}
		if err != nil {
			return err
		}
	}
	return l.err
}

// token describes the value at the cursor for an error message without
// consuming it.
func (d *decoder) token() string {
	s := d.s
	start := s.i
	if err := s.skip(1); err != nil {
		return "malformed JSON"
	}
	return clip(string(s.b[start:s.i]))
}

func clip(v string) string {
	if len(v) > 40 {
		return v[:37] + "..."
	}
	return v
}

// resetSeen starts a new set of columns read.
func (d *decoder) resetSeen() {
	d.hint = 0
	d.seen = d.seen[:0]
	for range d.l.nc {
		d.seen = append(d.seen, false)
	}
}

// lookup maps a column name to the model's column: -1 for a name the
// model does not have, which is refused on a strict endpoint and
// otherwise noted and ignored. A name seen twice is refused. where
// prefixes errors ("record 3", "inputs").
func (d *decoder) lookup(name []byte, where string, r int) (int, error) {
	// Clients mostly send columns in the model's order: try the column
	// after the last one first, a string compare instead of a hash.
	j := d.hint
	if j >= d.l.nc || string(name) != d.l.inputs[j].Name {
		var ok bool
		if j, ok = d.l.col[string(name)]; !ok {
			return d.lookupMiss(name, where, r)
		}
	}
	if d.seen[j] {
		return d.lookupMiss(name, where, r)
	}
	d.seen[j] = true
	d.hint = j + 1
	return j, nil
}

// lookupMiss is lookup's path for a name that is unknown or seen twice.
func (d *decoder) lookupMiss(name []byte, where string, r int) (int, error) {
	j, ok := d.l.col[string(name)]
	if ok {
		return -1, badf("%s: column %q appears twice", d.where(where, r), d.l.inputs[j].Name)
	}
	if d.opts.strict {
		return -1, badf("%s: unknown column %q (the model's columns are %s)", d.where(where, r), clip(string(name)), d.l.colList)
	}
	d.ignore(name)
	return -1, nil
}

// where is an error prefix: "record R" when r >= 0, else where itself.
func (d *decoder) where(where string, r int) string {
	if r >= 0 {
		return "record " + strconv.Itoa(r)
	}
	return where
}

func (d *decoder) ignore(name []byte) {
	for _, n := range d.req.ignored {
		if n == string(name) {
			return
		}
	}
	if len(d.req.ignored) < maxIgnored {
		d.req.ignored = append(d.req.ignored, string(name))
	}
}

// missing is the first model column not seen, -1 when all were.
func (d *decoder) missing() int {
	for j, ok := range d.seen {
		if !ok {
			return j
		}
	}
	return -1
}

func (d *decoder) record(r int) error {
	d.resetSeen()
	l := d.list('{', "")
	for d.next(&l) {
		j, err := d.lookup(l.key, "", r)
		if err == nil {
			err = d.cell(r, j)
		}
		if err != nil {
			return err
		}
	}
	if l.err != nil {
		return l.err
	}
	if j := d.missing(); j >= 0 {
		return badf("record %d: missing column %q", r, d.l.inputs[j].Name)
	}
	return nil
}

// positional reads one row given as an array: in model column order, or
// through cols (dataframe_split's columns) when not nil.
func (d *decoder) positional(r int, cols []int) error {
	want := d.l.nc
	if cols != nil {
		want = len(cols)
	}
	l := d.list('[', "")
	for d.next(&l) {
		if l.i >= want {
			return badf("record %d: has more than %d values", r, want)
		}
		j := l.i
		if cols != nil {
			j = cols[j]
		}
		if err := d.cell(r, j); err != nil {
			return err
		}
	}
	if l.err != nil {
		return l.err
	}
	if n := l.i + 1; n < want {
		j := n
		if cols != nil {
			j = cols[n]
		}
		if j < 0 {
			return badf("record %d: has %d values, want %d", r, n, want)
		}
		return badf("record %d: missing column %q (%d values, want %d)", r, d.l.inputs[j].Name, n, want)
	}
	return nil
}

// cell parses one value at the cursor into x[r][j]; j < 0 is an ignored
// column, whose value is only checked to be JSON.
func (d *decoder) cell(r, j int) error {
	s := &d.s
	if j < 0 {
		return s.skip(1)
	}
	in := &d.l.inputs[j]
	c := s.peek()
	start := s.i
	switch {
	case c == 'n':
		if err := s.lit("null"); err != nil {
			return err
		}
		d.x[r*d.l.nc+j] = math.NaN() // a missing value, which the model handles
		return nil
	case c == '"':
		raw, esc, err := s.str()
		if err != nil {
			return d.cellSyntax(r, j, err)
		}
		if in.Type != "string" {
			return d.wrongType(r, j, start)
		}
		if esc {
			d.tmp = unescape(d.tmp[:0], raw)
			raw = d.tmp
		}
		// setString's rule, inline: this is the hot path.
		v, ok := d.l.levels[j][string(raw)]
		if !ok {
			v = d.l.code(j, raw)
		}
		d.x[r*d.l.nc+j] = v
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		tok, err := s.num()
		if err != nil {
			return d.cellSyntax(r, j, err)
		}
		if in.Type == "boolean" && len(tok) == 1 && (tok[0] == '0' || tok[0] == '1') {
			d.x[r*d.l.nc+j] = d.l.bools[j][tok[0]-'0']
			return nil
		}
		if in.Type != "integer" && in.Type != "number" {
			return d.wrongType(r, j, start)
		}
		v, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return d.setNumber(r, j, tok) // for its message
		}
		d.x[r*d.l.nc+j] = v
		return nil
	case c == 't' || c == 'f':
		word := "true"
		if c == 'f' {
			word = "false"
		}
		if err := s.lit(word); err != nil {
			return err
		}
		if in.Type != "boolean" {
			return d.wrongType(r, j, start)
		}
		d.x[r*d.l.nc+j] = d.l.bools[j][b2i(c == 't')]
		return nil
	default:
		if err := s.skip(1); err != nil {
			return err
		}
		return d.wrongType(r, j, start)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cellSyntax names the cell of a malformed value (bad UTF-8, a bad
// number), which a byte offset alone leaves the client to find.
func (d *decoder) cellSyntax(r, j int, err error) error {
	return badf("record %d, column %q: %v", r, d.l.inputs[j].Name, err)
}

// setString codes a string value of column j: CSV's path, and cell's
// (written out there, the hot path), so both agree on categories.
func (d *decoder) setString(r, j int, v []byte) {
	c, ok := d.l.levels[j][string(v)]
	if !ok {
		// An unseen spelling: the model decides (its missing-value
		// tokens, or NaN for a new category).
		c = d.l.code(j, v)
	}
	d.x[r*d.l.nc+j] = c
}

// setNumber parses a number already checked against JSON's grammar: the
// CSV path checks it too, so neither takes NaN, Inf, 1_000 or hex.
func (d *decoder) setNumber(r, j int, tok []byte) error {
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return badf("record %d, column %q: number %s is out of range", r, d.l.inputs[j].Name, clip(string(tok)))
	}
	d.x[r*d.l.nc+j] = v
	return nil
}

var typeWords = map[string]string{"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}

func (d *decoder) wrongType(r, j, start int) error {
	in := &d.l.inputs[j]
	s := d.s
	s.i = start
	if err := s.skip(1); err != nil {
		return err
	}
	return badf("record %d, column %q: want %s, got %s", r, in.Name, typeWords[in.Type], clip(string(s.b[start:s.i])))
}

// columnsObject reads MLflow's columnar {"col": [v, ...], ...}.
func (d *decoder) columnsObject() error {
	d.resetSeen()
	l := d.list('{', "")
	for d.next(&l) {
		j, err := d.lookup(l.key, "inputs", -1)
		if err == nil {
			if j < 0 {
				err = d.s.skip(1)
			} else {
				err = d.column("inputs: column", j, false)
			}
		}
		if err != nil {
			return err
		}
	}
	if l.err != nil {
		return l.err
	}
	return d.columnsComplete()
}

// columnsComplete checks that a columnar body sent every column; no
// rows at all is left for decode to report.
func (d *decoder) columnsComplete() error {
	j := d.missing()
	if j < 0 || d.colRows == 0 {
		return nil
	}
	return badf("record 0: missing column %q", d.l.inputs[j].Name)
}

// column reads an array of values for model column j. The first column
// read sets the rows (counted before any is stored, see grow); nested
// arrays ([[17], [87]]) are flattened when flat is set, as OIP's [N, 1]
// shapes are. what names the column in errors ("inputs: column").
func (d *decoder) column(what string, j int, flat bool) error {
	name := d.l.inputs[j].Name
	if d.s.peek() != '[' {
		return badf("%s %q must be an array of values", what, name)
	}
	if d.colRows < 0 {
		saved := d.s
		n := 0
		if err := d.values(what, j, flat, false, 0, &n); err != nil {
			return err
		}
		d.s = saved
		if err := d.grow(what, j, n); err != nil {
			return err
		}
		d.colRows = n
	}
	n := 0
	if err := d.values(what, j, flat, true, 0, &n); err != nil {
		return err
	}
	if n != d.rows {
		return badf("%s %q has %d values, the first column has %d", what, name, n, d.rows)
	}
	return nil
}

// values reads the values of column j at the cursor, through nested
// arrays when flat is set, into rows *n, *n+1, ... when store is set,
// else only counting them in *n.
func (d *decoder) values(what string, j int, flat, store bool, depth int, n *int) error {
	l := d.list('[', "")
	for d.next(&l) {
		var err error
		switch {
		case flat && d.s.peek() == '[':
			if depth >= 4 {
				return badf("%s %q: data nested too deep", what, d.l.inputs[j].Name)
			}
			err = d.values(what, j, flat, store, depth+1, n)
		case !store:
			err = d.s.skip(1)
			*n++
		case *n >= d.rows:
			return badf("%s %q has more values than the first column (%d)", what, d.l.inputs[j].Name, d.rows)
		default:
			err = d.cell(*n, j)
			*n++
		}
		if err != nil {
			return err
		}
	}
	return l.err
}

// splitSpans is where dataframe_split's columns and data are: data may
// come before columns, so both are read after the object.
type splitSpans struct{ cols, data [2]int }

func (d *decoder) splitSpans(sp *splitSpans) error {
	s := &d.s
	l := d.list('{', "dataframe_split must be an object with columns and data")
	for d.next(&l) {
		s.ws()
		start := s.i
		// l.key is overwritten by nested keys: decide before skipping.
		var dst *[2]int
		switch string(l.key) {
		case "columns":
			dst = &sp.cols
		case "data":
			dst = &sp.data
		}
		if err := s.skip(2); err != nil {
			return err
		}
		if dst != nil {
			*dst = [2]int{start, s.i}
		}
	}
	return l.err
}

// seek puts the scanner on span of the body and returns the scanner to
// restore after.
func (d *decoder) seek(span [2]int) scanner {
	saved := d.s
	d.s = scanner{b: d.src[:span[1]], i: span[0]}
	return saved
}

func (d *decoder) split(sp splitSpans) error {
	if sp.data[1] == 0 {
		return badf("dataframe_split: data is required")
	}
	if sp.cols[1] == 0 {
		return badf("dataframe_split: columns is required")
	}
	d.cols = d.cols[:0]
	d.resetSeen()
	defer func(s scanner) { d.s = s }(d.seek(sp.cols))
	const notNames = "dataframe_split: columns must be an array of names"
	l := d.list('[', notNames)
	for d.next(&l) {
		raw, err := d.raw(notNames)
		if err != nil {
			return err
		}
		j, err := d.lookup(raw, "dataframe_split", -1)
		if err != nil {
			return err
		}
		d.cols = append(d.cols, j)
	}
	if l.err != nil {
		return l.err
	}
	if j := d.missing(); j >= 0 {
		return badf("record 0: missing column %q", d.l.inputs[j].Name)
	}
	d.seek(sp.data)
	l = d.list('[', "dataframe_split: data must be an array of rows")
	for d.next(&l) {
		r, err := d.addRow()
		if err != nil {
			return err
		}
		if d.s.peek() != '[' {
			return badf("record %d: want an array of values, got %s", r, d.token())
		}
		if err := d.positional(r, d.cols); err != nil {
			return err
		}
	}
	return l.err
}

// oipDatatypes are the tensor types of the Open Inference Protocol, each
// with the column types it can carry.
var oipDatatypes = map[string]string{
	"BOOL": "boolean", "BYTES": "string",
	"UINT8": "numeric", "UINT16": "numeric", "UINT32": "numeric", "UINT64": "numeric",
	"INT8": "numeric", "INT16": "numeric", "INT32": "numeric", "INT64": "numeric",
	"FP16": "numeric", "FP32": "numeric", "FP64": "numeric",
}

// maxShapeDims bounds a tensor's shape: the pandas codec's tensors are
// [N] or [N, 1], and a shape is never worth more memory than that.
const maxShapeDims = 8

// tensor is one OIP input as read: its data is decoded once the whole
// object (whose datatype may follow the data) is known.
type tensor struct {
	name, dtype []byte // into the body unless unescaped
	data        [2]int
	shape       [maxShapeDims]int
	dims        int
}

// tensors reads OIP inputs with the pandas codec: one tensor per column.
func (d *decoder) tensors() error {
	d.resetSeen()
	l := d.list('[', "inputs must be an array of tensors")
	for d.next(&l) {
		var t tensor
		if err := d.tensorFields(&t); err != nil {
			return err
		}
		if err := d.tensor(&t); err != nil {
			return err
		}
	}
	if l.err != nil {
		return l.err
	}
	return d.columnsComplete()
}

const tensorMsg = "inputs: each tensor must be an object with name, shape, datatype and data"

func (d *decoder) tensorFields(t *tensor) error {
	s := &d.s
	l := d.list('{', tensorMsg)
	for d.next(&l) {
		var err error
		switch string(l.key) {
		case "name":
			t.name, err = d.raw("inputs: tensor name must be a string")
		case "datatype":
			t.dtype, err = d.raw("inputs: tensor datatype must be a string")
		case "shape":
			err = d.tensorShape(t)
		case "data":
			s.ws()
			t.data[0] = s.i
			err = s.skip(1)
			t.data[1] = s.i
		default:
			err = s.skip(2)
		}
		if err != nil {
			return err
		}
	}
	return l.err
}

func (d *decoder) tensorShape(t *tensor) error {
	const msg = "inputs: tensor shape must be an array of integers"
	l := d.list('[', msg)
	for d.next(&l) {
		tok, err := d.s.num()
		if err != nil {
			return badf(msg)
		}
		if l.i >= maxShapeDims {
			return badf("inputs: tensor shape has more than %d dimensions", maxShapeDims)
		}
		v, err := strconv.Atoi(string(tok))
		if err != nil || v < 0 {
			return badf("inputs: bad tensor shape value %s", clip(string(tok)))
		}
		t.shape[l.i] = v
		t.dims = l.i + 1
	}
	return l.err
}

func (d *decoder) tensor(t *tensor) error {
	if len(t.name) == 0 {
		return badf("inputs: a tensor has no name")
	}
	j, err := d.lookup(t.name, "inputs", -1)
	if err != nil || j < 0 {
		return err
	}
	in := &d.l.inputs[j]
	kind, ok := oipDatatypes[string(t.dtype)]
	if !ok {
		return badf("inputs: tensor %q has unknown datatype %q", t.name, clip(string(t.dtype)))
	}
	if want := oipType(in.Type); kind != in.Type && !(kind == "numeric" && (in.Type == "integer" || in.Type == "number")) {
		return badf("inputs: tensor %q has datatype %s, but column %q is %s: send %s", t.name, t.dtype, in.Name, in.Type, want)
	}
	if t.data[1] == 0 {
		return badf("inputs: tensor %q has no data", t.name)
	}
	saved := d.seek(t.data)
	err = d.column("inputs: tensor", j, true)
	d.s = saved
	if err != nil {
		return err
	}
	if t.dims == 0 {
		return nil
	}
	// Multiply without overflow: past n the product cannot match.
	n, p := d.rows, 1
	for _, v := range t.shape[:t.dims] {
		if v != 0 && p > n/v {
			p = n + 1
			break
		}
		p *= v
	}
	if p != n || (t.dims > 1 && t.shape[0] != n) {
		shape := append([]int(nil), t.shape[:t.dims]...) // t stays on the stack
		return badf("inputs: tensor %q has shape %v but %d values", t.name, shape, n)
	}
	return nil
}

// oipOutputs reads [{"name": "predict"|"predict_proba"}, ...].
func (d *decoder) oipOutputs() error {
	const msg = "outputs must be an array of {\"name\": ...}"
	outs := d.list('[', msg)
	for d.next(&outs) {
		l := d.list('{', msg)
		for d.next(&l) {
			if string(l.key) != "name" {
				if err := d.s.skip(3); err != nil {
					return err
				}
				continue
			}
			if err := d.output(); err != nil {
				return err
			}
		}
		if l.err != nil {
			return l.err
		}
	}
	return outs.err
}

// output reads one output name; the answer has each output asked for, in
// the order asked.
func (d *decoder) output() error {
	n, err := d.raw("outputs: name must be a string")
	if err != nil {
		return err
	}
	var o output
	switch string(n) {
	case "predict":
		o = outPredict
	case "predict_proba":
		if d.l.nout < 2 {
			return badf("output predict_proba needs a classification model")
		}
		o = outProba
	default:
		also := ""
		if d.l.nout > 1 {
			also = " and predict_proba"
		}
		return badf("unknown output %q: this model has predict%s", clip(string(n)), also)
	}
	req := &d.req
	for _, have := range req.outs[:req.nouts] {
		if have == o {
			return badf("outputs: %s is asked for twice", n)
		}
	}
	req.outs[req.nouts] = o
	req.nouts++
	return nil
}

func (h *Handler) decodeOpts() decodeOpts {
	return decodeOpts{maxRows: h.opts.MaxRows, strict: h.opts.StrictColumns}
}
