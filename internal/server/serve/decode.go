package serve

import (
	"fmt"
	"math"
	"strconv"
	"strings"
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

// request is what the decoder learned besides the rows.
type request struct {
	shape shape
	rows  int
	proba bool // predict_proba
	// oipID is the request's "id" as a raw JSON string literal, echoed.
	oipID []byte
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
	x    []float64
	seen []bool
	tmp  []byte // unescape scratch
	rows int
	// cols maps positional cells to model columns (dataframe_split).
	cols []int
}

// decode parses body for proto into sc's row buffer.
func (l *loaded) decode(proto protocol, body []byte, sc *scratch) (request, error) {
	d := decoder{s: scanner{b: body}, l: l, x: sc.x[:0], seen: sc.seen[:0], tmp: sc.tmp[:0], cols: sc.cols[:0]}
	req, err := d.top(proto)
	sc.x, sc.seen, sc.tmp, sc.cols = d.x, d.seen, d.tmp, d.cols
	if err != nil {
		return req, err
	}
	req.rows = d.rows
	if d.rows == 0 {
		return req, badf("no records: send at least one row")
	}
	return req, nil
}

func (d *decoder) keyString(raw []byte, esc bool) string {
	if !esc {
		return string(raw)
	}
	d.tmp = unescape(d.tmp[:0], raw)
	return string(d.tmp)
}

func (d *decoder) top(proto protocol) (request, error) {
	var req request
	s := &d.s
	if c := s.peek(); c != '{' {
		if c == 0 {
			return req, badf("empty body: send a JSON object")
		}
		if c == '[' && proto == protoMLflow {
			return req, badf("%s", mlflowShapeMsg)
		}
		if err := s.skip(0); err != nil {
			return req, err
		}
		return req, badf("the body must be a JSON object")
	}
	s.i++
	var splitCols, splitData [2]int // value spans, parsed after the object
	for first := true; ; first = false {
		more, err := s.next('}', first)
		if err != nil {
			return req, err
		}
		if !more {
			break
		}
		raw, esc, err := s.key()
		if err != nil {
			return req, err
		}
		k := d.keyString(raw, esc)
		switch proto {
		case protoAzure:
			switch k {
			case "data":
				if err := d.setShape(&req, shapeClassic); err != nil {
					return req, err
				}
				if err := d.rowsArray("data"); err != nil {
					return req, err
				}
			case "method":
				if err := d.method(&req); err != nil {
					return req, err
				}
			case "Inputs":
				if err := d.setShape(&req, shapeInputs); err != nil {
					return req, err
				}
				if err := d.inputsObject(); err != nil {
					return req, err
				}
			case "GlobalParameters":
				if err := d.globalParameters(&req); err != nil {
					return req, err
				}
			default:
				if err := s.skip(1); err != nil {
					return req, err
				}
			}
		case protoMLflow:
			switch k {
			case "dataframe_records", "instances":
				sh := shapeRecords
				if k == "instances" {
					sh = shapeInstances
				}
				if err := d.setShape(&req, sh); err != nil {
					return req, err
				}
				if err := d.rowsArray(k); err != nil {
					return req, err
				}
			case "inputs":
				if err := d.setShape(&req, shapeColumns); err != nil {
					return req, err
				}
				switch s.peek() {
				case '{':
					if err := d.columnsObject(); err != nil {
						return req, err
					}
				case '[':
					if err := d.rowsArray("inputs"); err != nil {
						return req, err
					}
				default:
					return req, badf("inputs must be an object of columns or an array of records")
				}
			case "dataframe_split":
				if err := d.setShape(&req, shapeSplit); err != nil {
					return req, err
				}
				if err := d.splitSpans(&splitCols, &splitData); err != nil {
					return req, err
				}
			default:
				// "params" and anything else: MLflow ignores unknown
				// parameters for models without a params schema.
				if err := s.skip(1); err != nil {
					return req, err
				}
			}
		case protoOIP:
			switch k {
			case "inputs":
				if err := d.setShape(&req, shapeOIP); err != nil {
					return req, err
				}
				if err := d.tensors(); err != nil {
					return req, err
				}
			case "id":
				if s.peek() != '"' {
					return req, badf("id must be a string")
				}
				start := s.i
				if _, _, err := s.str(); err != nil {
					return req, err
				}
				req.oipID = s.b[start:s.i]
			case "outputs":
				if err := d.oipOutputs(&req); err != nil {
					return req, err
				}
			default: // parameters
				if err := s.skip(1); err != nil {
					return req, err
				}
			}
		}
	}
	if err := s.end(); err != nil {
		return req, err
	}
	if req.shape == shapeSplit {
		if err := d.split(splitCols, splitData); err != nil {
			return req, err
		}
	}
	if req.shape == shapeNone {
		switch proto {
		case protoAzure:
			return req, badf("A value is not provided for the 'data' parameter: send {\"data\": [...]} or {\"Inputs\": {\"data\": [...]}}")
		case protoMLflow:
			return req, badf("%s", mlflowShapeMsg)
		default:
			return req, badf("inputs is required: send {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, ...]}")
		}
	}
	return req, nil
}

const mlflowShapeMsg = "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"

func (d *decoder) setShape(req *request, sh shape) error {
	if req.shape != shapeNone {
		if req.shape >= shapeSplit && sh >= shapeSplit && sh <= shapeColumns {
			return badf("%s", mlflowShapeMsg)
		}
		return badf("the body holds two inputs; send only one of \"data\" and \"Inputs\"")
	}
	req.shape = sh
	return nil
}

func (d *decoder) method(req *request) error {
	s := &d.s
	if s.peek() != '"' {
		return badf("method must be a string: \"predict\" or \"predict_proba\"")
	}
	raw, esc, err := s.str()
	if err != nil {
		return err
	}
	switch m := d.keyString(raw, esc); m {
	case "predict":
		req.proba = false
	case "predict_proba":
		if d.l.nout < 2 {
			return badf("method predict_proba needs a classification model; %s is a regression model", d.l.name)
		}
		req.proba = true
	default:
		return badf("method %q is not supported: use \"predict\" or \"predict_proba\"", clip(m))
	}
	return nil
}

// globalParameters reads {"method": ...}; older v2 scoring files send a
// bare number there, which is accepted and ignored.
func (d *decoder) globalParameters(req *request) error {
	s := &d.s
	if s.peek() != '{' {
		return s.skip(1)
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.next('}', first)
		if err != nil || !more {
			return err
		}
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		if d.keyString(raw, esc) == "method" {
			if err := d.method(req); err != nil {
				return err
			}
			continue
		}
		if err := s.skip(2); err != nil {
			return err
		}
	}
}

func (d *decoder) inputsObject() error {
	s := &d.s
	if s.peek() != '{' {
		return badf("Inputs must be an object: {\"Inputs\": {\"data\": [...]}}")
	}
	s.i++
	found := false
	for first := true; ; first = false {
		more, err := s.next('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		if d.keyString(raw, esc) == "data" {
			found = true
			if err := d.rowsArray("Inputs.data"); err != nil {
				return err
			}
			continue
		}
		if err := s.skip(2); err != nil {
			return err
		}
	}
	if !found {
		return badf("A value is not provided for the 'data' parameter: send {\"Inputs\": {\"data\": [...]}}")
	}
	return nil
}

// addRow appends one row of NaN cells and returns its index.
func (d *decoder) addRow() int {
	for range d.l.nc {
		d.x = append(d.x, math.NaN())
	}
	d.rows++
	return d.rows - 1
}

// rowsArray reads an array of records (objects keyed by column) or of
// positional rows (arrays in the model's column order).
func (d *decoder) rowsArray(field string) error {
	s := &d.s
	if s.peek() != '[' {
		if s.peek() == '{' {
			return badf("%s must be an array of records, got an object", field)
		}
		return badf("%s must be an array of records", field)
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.next(']', first)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		r := d.addRow()
		switch s.peek() {
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

func (d *decoder) record(r int) error {
	s := &d.s
	s.i++ // '{'
	nc := d.l.nc
	d.seen = d.seen[:0]
	for range nc {
		d.seen = append(d.seen, false)
	}
	for first := true; ; first = false {
		more, err := s.next('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		var j int
		var ok bool
		if esc {
			d.tmp = unescape(d.tmp[:0], raw)
			j, ok = d.l.col[string(d.tmp)]
		} else {
			j, ok = d.l.col[string(raw)]
		}
		if !ok {
			return badf("record %d: unknown column %q (the model's columns are %s)", r, clip(d.keyString(raw, esc)), d.l.colList)
		}
		if d.seen[j] {
			return badf("record %d: column %q appears twice", r, d.l.inputs[j].Name)
		}
		d.seen[j] = true
		if err := d.cell(r, j); err != nil {
			return err
		}
	}
	for j, ok := range d.seen {
		if !ok {
			return badf("record %d: missing column %q", r, d.l.inputs[j].Name)
		}
	}
	return nil
}

// positional reads one row given as an array: in model column order, or
// through cols (dataframe_split's columns) when not nil.
func (d *decoder) positional(r int, cols []int) error {
	s := &d.s
	s.i++ // '['
	want := d.l.nc
	if cols != nil {
		want = len(cols)
	}
	n := 0
	for first := true; ; first = false {
		more, err := s.next(']', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if n >= want {
			return badf("record %d: has more than %d values", r, want)
		}
		j := n
		if cols != nil {
			j = cols[n]
		}
		if err := d.cell(r, j); err != nil {
			return err
		}
		n++
	}
	if n < want {
		j := n
		if cols != nil {
			j = cols[n]
		}
		return badf("record %d: missing column %q (%d values, want %d)", r, d.l.inputs[j].Name, n, want)
	}
	return nil
}

// cell parses one value at the cursor into x[r][j].
func (d *decoder) cell(r, j int) error {
	s := &d.s
	in := &d.l.inputs[j]
	dst := &d.x[r*d.l.nc+j]
	c := s.peek()
	start := s.i
	switch {
	case c == 'n':
		if err := s.lit("null"); err != nil {
			return err
		}
		*dst = math.NaN() // a missing value, which the model handles
		return nil
	case c == '"':
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		if in.Type != "string" {
			return d.wrongType(r, j, start)
		}
		var v float64
		var ok bool
		if esc {
			d.tmp = unescape(d.tmp[:0], raw)
			v, ok = d.l.levels[j][string(d.tmp)]
		} else {
			v, ok = d.l.levels[j][string(raw)]
		}
		if !ok {
			// An unseen spelling: the model decides (its missing-value
			// tokens, or NaN for a new category).
			if esc {
				v = d.l.code(j, d.tmp)
			} else {
				v = d.l.code(j, raw)
			}
		}
		*dst = v
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		tok, err := s.num()
		if err != nil {
			return err
		}
		if in.Type != "integer" && in.Type != "number" {
			if in.Type == "boolean" && (string(tok) == "0" || string(tok) == "1") {
				*dst = d.l.bools[j][tok[0]-'0']
				return nil
			}
			return d.wrongType(r, j, start)
		}
		v, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return badf("record %d, column %q: number %s is out of range", r, in.Name, clip(string(tok)))
		}
		*dst = v
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
		if c == 't' {
			*dst = d.l.bools[j][1]
		} else {
			*dst = d.l.bools[j][0]
		}
		return nil
	default:
		if err := s.skip(1); err != nil {
			return err
		}
		return d.wrongType(r, j, start)
	}
}

func (d *decoder) wrongType(r, j, start int) error {
	in := &d.l.inputs[j]
	s := d.s
	s.i = start
	if err := s.skip(1); err != nil {
		return err
	}
	want := map[string]string{"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}[in.Type]
	return badf("record %d, column %q: want %s, got %s", r, in.Name, want, clip(string(s.b[start:s.i])))
}

// columnsObject reads MLflow's columnar {"col": [v, ...], ...}.
func (d *decoder) columnsObject() error {
	s := &d.s
	s.i++ // '{'
	nc := d.l.nc
	seen := make([]bool, nc)
	first1 := -1
	for first := true; ; first = false {
		more, err := s.next('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		name := d.keyString(raw, esc)
		j, ok := d.l.col[name]
		if !ok {
			return badf("inputs: unknown column %q (the model's columns are %s)", clip(name), d.l.colList)
		}
		if seen[j] {
			return badf("inputs: column %q appears twice", name)
		}
		seen[j] = true
		n, err := d.column(j, first1 < 0, false)
		if err != nil {
			return err
		}
		if first1 < 0 {
			first1 = j
		} else if n != d.rows {
			return badf("inputs: column %q has %d values, column %q has %d", name, n, d.l.inputs[first1].Name, d.rows)
		}
	}
	for j, ok := range seen {
		if !ok {
			if d.rows == 0 {
				return nil // reported as "no records"
			}
			return badf("record 0: missing column %q", d.l.inputs[j].Name)
		}
	}
	return nil
}

// column reads an array of values for model column j. The first column
// read creates the rows; nested arrays ([[17], [87]]) are flattened when
// flat is set, as OIP's [N, 1] shapes are.
func (d *decoder) column(j int, create, flat bool) (int, error) {
	s := &d.s
	if s.peek() != '[' {
		return 0, badf("column %q must be an array of values", d.l.inputs[j].Name)
	}
	n := 0
	var walk func(depth int) error
	walk = func(depth int) error {
		s.i++ // '['
		for first := true; ; first = false {
			more, err := s.next(']', first)
			if err != nil || !more {
				return err
			}
			if flat && s.peek() == '[' {
				if depth >= 4 {
					return badf("column %q: data nested too deep", d.l.inputs[j].Name)
				}
				if err := walk(depth + 1); err != nil {
					return err
				}
				continue
			}
			if create {
				d.addRow()
			} else if n >= d.rows {
				return badf("column %q has more values than the first column (%d)", d.l.inputs[j].Name, d.rows)
			}
			if err := d.cell(n, j); err != nil {
				return err
			}
			n++
		}
	}
	return n, walk(0)
}

// splitSpans records where dataframe_split's columns and data are, since
// data may come before columns.
func (d *decoder) splitSpans(cols, data *[2]int) error {
	s := &d.s
	if s.peek() != '{' {
		return badf("dataframe_split must be an object with columns and data")
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.next('}', first)
		if err != nil || !more {
			return err
		}
		raw, esc, err := s.key()
		if err != nil {
			return err
		}
		k := d.keyString(raw, esc)
		s.ws()
		start := s.i
		if err := s.skip(2); err != nil {
			return err
		}
		switch k {
		case "columns":
			*cols = [2]int{start, s.i}
		case "data":
			*data = [2]int{start, s.i}
		}
	}
}

func (d *decoder) split(cols, data [2]int) error {
	if data[1] == 0 {
		return badf("dataframe_split: data is required")
	}
	if cols[1] == 0 {
		return badf("dataframe_split: columns is required")
	}
	saved := d.s
	defer func() { d.s = saved }()
	d.s = scanner{b: saved.b[:cols[1]], i: cols[0]}
	s := &d.s
	if s.peek() != '[' {
		return badf("dataframe_split: columns must be an array of names")
	}
	s.i++
	d.cols = d.cols[:0]
	seen := make([]bool, d.l.nc)
	for first := true; ; first = false {
		more, err := s.next(']', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if s.peek() != '"' {
			return badf("dataframe_split: columns must be an array of names")
		}
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		name := d.keyString(raw, esc)
		j, ok := d.l.col[name]
		if !ok {
			return badf("dataframe_split: unknown column %q (the model's columns are %s)", clip(name), d.l.colList)
		}
		if seen[j] {
			return badf("dataframe_split: column %q appears twice", name)
		}
		seen[j] = true
		d.cols = append(d.cols, j)
	}
	for j, ok := range seen {
		if !ok {
			return badf("record 0: missing column %q", d.l.inputs[j].Name)
		}
	}
	d.s = scanner{b: saved.b[:data[1]], i: data[0]}
	if s.peek() != '[' {
		return badf("dataframe_split: data must be an array of rows")
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.next(']', first)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		r := d.addRow()
		if s.peek() != '[' {
			return badf("record %d: want an array of values, got %s", r, d.token())
		}
		if err := d.positional(r, d.cols); err != nil {
			return err
		}
	}
}

// oipDatatypes are the tensor types of the Open Inference Protocol.
var oipDatatypes = map[string]bool{
	"BOOL": true, "UINT8": true, "UINT16": true, "UINT32": true, "UINT64": true,
	"INT8": true, "INT16": true, "INT32": true, "INT64": true,
	"FP16": true, "FP32": true, "FP64": true, "BYTES": true,
}

// tensors reads OIP inputs with the pandas codec: one tensor per column.
func (d *decoder) tensors() error {
	s := &d.s
	if s.peek() != '[' {
		return badf("inputs must be an array of tensors")
	}
	s.i++
	seen := make([]bool, d.l.nc)
	firstCol := -1
	for first := true; ; first = false {
		more, err := s.next(']', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if s.peek() != '{' {
			return badf("inputs: each tensor must be an object with name, shape, datatype and data")
		}
		s.i++
		var name, dtype string
		var data [2]int
		var shape []int
		for first := true; ; first = false {
			more, err := s.next('}', first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			raw, esc, err := s.key()
			if err != nil {
				return err
			}
			switch d.keyString(raw, esc) {
			case "name", "datatype":
				k := d.keyString(raw, esc)
				if s.peek() != '"' {
					return badf("inputs: tensor %s must be a string", k)
				}
				raw, esc, err := s.str()
				if err != nil {
					return err
				}
				if k == "name" {
					name = d.keyString(raw, esc)
				} else {
					dtype = d.keyString(raw, esc)
				}
			case "shape":
				if s.peek() != '[' {
					return badf("inputs: tensor shape must be an array of integers")
				}
				s.i++
				for first := true; ; first = false {
					more, err := s.next(']', first)
					if err != nil {
						return err
					}
					if !more {
						break
					}
					tok, err := s.num()
					if err != nil {
						return badf("inputs: tensor shape must be an array of integers")
					}
					v, err := strconv.Atoi(string(tok))
					if err != nil || v < 0 {
						return badf("inputs: bad tensor shape value %s", clip(string(tok)))
					}
					shape = append(shape, v)
				}
			case "data":
				s.ws()
				data[0] = s.i
				if err := s.skip(1); err != nil {
					return err
				}
				data[1] = s.i
			default:
				if err := s.skip(2); err != nil {
					return err
				}
			}
		}
		if name == "" {
			return badf("inputs: a tensor has no name")
		}
		j, ok := d.l.col[name]
		if !ok {
			return badf("inputs: unknown tensor %q (the model's columns are %s)", clip(name), d.l.colList)
		}
		if seen[j] {
			return badf("inputs: tensor %q appears twice", name)
		}
		seen[j] = true
		if !oipDatatypes[dtype] {
			return badf("inputs: tensor %q has unknown datatype %q", name, clip(dtype))
		}
		if data[1] == 0 {
			return badf("inputs: tensor %q has no data", name)
		}
		saved := d.s
		d.s = scanner{b: saved.b[:data[1]], i: data[0]}
		n, err := d.column(j, firstCol < 0, true)
		d.s = saved
		if err != nil {
			return err
		}
		if firstCol < 0 {
			firstCol = j
		} else if n != d.rows {
			return badf("inputs: tensor %q has %d values, tensor %q has %d", name, n, d.l.inputs[firstCol].Name, d.rows)
		}
		if len(shape) > 0 {
			p := 1
			for _, v := range shape {
				p *= v
			}
			if p != n || (len(shape) > 1 && shape[0] != n) {
				return badf("inputs: tensor %q has shape %v but %d values", name, shape, n)
			}
		}
	}
	for j, ok := range seen {
		if !ok && d.rows > 0 {
			return badf("record 0: missing column %q", d.l.inputs[j].Name)
		}
	}
	return nil
}

// oipOutputs accepts [{"name": "predict"|"predict_proba"}].
func (d *decoder) oipOutputs(req *request) error {
	s := &d.s
	if s.peek() != '[' {
		return badf("outputs must be an array of {\"name\": ...}")
	}
	s.i++
	for first := true; ; first = false {
		more, err := s.next(']', first)
		if err != nil || !more {
			return err
		}
		if s.peek() != '{' {
			return badf("outputs must be an array of {\"name\": ...}")
		}
		s.i++
		for first := true; ; first = false {
			more, err := s.next('}', first)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			raw, esc, err := s.key()
			if err != nil {
				return err
			}
			if d.keyString(raw, esc) != "name" {
				if err := s.skip(3); err != nil {
					return err
				}
				continue
			}
			if s.peek() != '"' {
				return badf("outputs: name must be a string")
			}
			raw, esc, err = s.str()
			if err != nil {
				return err
			}
			switch n := d.keyString(raw, esc); n {
			case "predict":
			case "predict_proba":
				if d.l.nout < 2 {
					return badf("output predict_proba needs a classification model")
				}
				req.proba = true
			default:
				return badf("unknown output %q: this model has predict%s", clip(n), map[bool]string{true: " and predict_proba", false: ""}[d.l.nout > 1])
			}
		}
	}
}

// decodeCSV reads MLflow's text/csv body: a header row naming columns.
func (l *loaded) decodeCSV(body []byte, sc *scratch) (request, error) {
	req := request{shape: shapeCSV}
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) < 2 {
		return req, badf("CSV needs a header row and at least one record")
	}
	header, err := splitCSV(lines[0])
	if err != nil {
		return req, badf("CSV header: %v", err)
	}
	cols := make([]int, len(header))
	seen := make([]bool, l.nc)
	for i, h := range header {
		j, ok := l.col[h]
		if !ok {
			return req, badf("CSV header: unknown column %q (the model's columns are %s)", clip(h), l.colList)
		}
		if seen[j] {
			return req, badf("CSV header: column %q appears twice", h)
		}
		seen[j] = true
		cols[i] = j
	}
	for j, ok := range seen {
		if !ok {
			return req, badf("CSV header: missing column %q", l.inputs[j].Name)
		}
	}
	x := sc.x[:0]
	for r, line := range lines[1:] {
		f, err := splitCSV(line)
		if err != nil {
			return req, badf("record %d: %v", r, err)
		}
		if len(f) != len(cols) {
			return req, badf("record %d: has %d values, the header has %d", r, len(f), len(cols))
		}
		base := len(x)
		for range l.nc {
			x = append(x, math.NaN())
		}
		for i, v := range f {
			j := cols[i]
			in := &l.inputs[j]
			if v == "" {
				continue
			}
			switch in.Type {
			case "string":
				c, ok := l.levels[j][v]
				if !ok {
					c = l.m.Code(j, v)
				}
				x[base+j] = c
			case "boolean":
				switch strings.ToLower(v) {
				case "true", "1":
					x[base+j] = l.bools[j][1]
				case "false", "0":
					x[base+j] = l.bools[j][0]
				default:
					return req, badf("record %d, column %q: want true or false, got %q", r, in.Name, clip(v))
				}
			default:
				fv, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return req, badf("record %d, column %q: want a number, got %q", r, in.Name, clip(v))
				}
				x[base+j] = fv
			}
		}
		req.rows++
	}
	sc.x = x
	return req, nil
}

// splitCSV splits one CSV line with RFC 4180 quoting (no embedded newlines).
func splitCSV(line string) ([]string, error) {
	var out []string
	for {
		if strings.HasPrefix(line, `"`) {
			var b strings.Builder
			i := 1
			for {
				k := strings.IndexByte(line[i:], '"')
				if k < 0 {
					return nil, fmt.Errorf("unterminated quoted field")
				}
				b.WriteString(line[i : i+k])
				i += k + 1
				if i < len(line) && line[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			out = append(out, b.String())
			line = line[i:]
			if line == "" {
				return out, nil
			}
			if line[0] != ',' {
				return nil, fmt.Errorf("text after a quoted field")
			}
			line = line[1:]
			continue
		}
		k := strings.IndexByte(line, ',')
		if k < 0 {
			return append(out, line), nil
		}
		out = append(out, line[:k])
		line = line[k+1:]
	}
}
