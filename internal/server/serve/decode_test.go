package serve

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// tiny is a three-column model for decoder tests (fakemodel would import
// this package, so the internal tests keep their own).
type tiny struct{}

func (tiny) Task() string      { return "classification" }
func (tiny) Classes() []string { return []string{"a", "b"} }
func (tiny) Code(col int, s string) float64 {
	switch s {
	case "x":
		return 0
	case "y":
		return 1
	}
	return math.NaN()
}
func (tiny) Predict(x, out []float64)   { out[0], out[1] = 0.25, 0.75 }
func (tiny) Name() string               { return "tiny" }
func (tiny) Version() int               { return 1 }
func (tiny) Digest() string             { return "sha256:00" }
func (tiny) Examples() []map[string]any { return nil }

var tinyInputs = []Input{
	{Name: "n", Type: "number", Example: 1.5},
	{Name: "c", Type: "string", Levels: []string{"x", "y"}, Example: "x"},
	{Name: "b", Type: "boolean", Example: true},
}

func tinyLoaded(t testing.TB) *loaded {
	l, err := compile(tiny{}, tinyInputs)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDecodeShapes(t *testing.T) {
	l := tinyLoaded(t)
	want := []float64{1.5, 1, 1, -2, 0, 0}
	cases := []struct {
		proto protocol
		body  string
		shape shape
	}{
		{protoAzure, `{"data": [{"n": 1.5, "c": "y", "b": true}, {"b": false, "c": "x", "n": -2}]}`, shapeClassic},
		{protoAzure, `{"data": [[1.5, "y", true], [-2, "x", false]]}`, shapeClassic},
		{protoAzure, `{"GlobalParameters": 1.0, "Inputs": {"data": [{"n": 1.5, "c": "y", "b": true}, {"b": false, "c": "x", "n": -2}]}}`, shapeInputs},
		{protoMLflow, `{"dataframe_records": [{"n": 1.5, "c": "y", "b": true}, {"b": false, "c": "x", "n": -2e0}]}`, shapeRecords},
		{protoMLflow, `{"instances": [{"n": 1.5, "c": "\u0079", "b": true}, {"b": false, "c": "x", "n": -2}]}`, shapeInstances},
		{protoMLflow, `{"inputs": {"c": ["y", "x"], "n": [1.5, -2], "b": [true, false]}}`, shapeColumns},
		{protoMLflow, `{"dataframe_split": {"data": [[true, 1.5, "y"], [false, -2, "x"]], "columns": ["b", "n", "c"]}, "params": {}}`, shapeSplit},
		{protoOIP, `{"id": "7", "inputs": [{"data": [[1.5], [-2]], "name": "n", "shape": [2, 1], "datatype": "FP64"}, {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["y", "x"]}, {"name": "b", "datatype": "BOOL", "data": [true, false]}]}`, shapeOIP},
	}
	for _, c := range cases {
		sc := &scratch{}
		req, err := l.decode(c.proto, []byte(c.body), sc, decodeOpts{})
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if req.shape != c.shape || req.rows != 2 {
			t.Errorf("%s: shape %d rows %d", c.body, req.shape, req.rows)
		}
		for i, v := range want {
			if sc.x[i] != v {
				t.Errorf("%s: x = %v, want %v", c.body, sc.x[:6], want)
				break
			}
		}
	}
	sc := &scratch{}
	req, err := l.decodeCSV([]byte("c,n,b\r\ny,1.5,true\n\"x\",-2,false\n"), sc, decodeOpts{})
	if err != nil || req.rows != 2 || sc.x[0] != 1.5 || sc.x[4] != 0 {
		t.Errorf("csv: %v %+v %v", err, req, sc.x)
	}
}

func TestDecodeErrors(t *testing.T) {
	l := tinyLoaded(t)
	cases := []struct {
		proto protocol
		body  string
		want  string
	}{
		{protoAzure, `{"data": [{"n": 1`, "malformed JSON at byte 17"},
		{protoAzure, `{"data": []}`, "no records"},
		{protoAzure, ``, "empty body"},
		{protoAzure, `[1]`, "must be a JSON object"},
		{protoAzure, `{"rows": []}`, "'data' parameter"},
		{protoAzure, `{"data": [{"n": 1, "c": "x", "b": true}, {"n": 1, "b": true}]}`, `record 1: missing column "c"`},
		{protoAzure, `{"data": [{"n": "old", "c": "x", "b": true}]}`, `record 0, column "n": want a number, got "old"`},
		{protoAzure, `{"data": [{"n": 1, "c": 5, "b": true}]}`, `record 0, column "c": want a string, got 5`},
		{protoAzure, `{"data": [{"n": 1, "c": "x", "b": true, "zz": 1}]}`, `record 0: unknown column "zz"`},
		{protoAzure, `{"data": [{"n": 1, "c": "x", "b": true}], "method": "explain"}`, `method "explain" is not supported`},
		{protoAzure, `{"data": [{"n": 1, "c": "x", "b": true}]} x`, "data after the top-level value"},
		{protoMLflow, `{"dataframe_records": [], "instances": []}`, "exactly one of"},
		{protoMLflow, `[{"n": 1}]`, "exactly one of"},
		{protoMLflow, `{}`, "exactly one of"},
		{protoMLflow, `{"inputs": {"n": [1, 2], "c": ["x"], "b": [true, true]}}`, `column "c" has 1 values`},
		{protoOIP, `{"inputs": [{"name": "n", "datatype": "FP99", "data": [1]}]}`, `unknown datatype "FP99"`},
		{protoOIP, `{"inputs": [{"name": "n", "datatype": "FP64", "shape": [3], "data": [1]}]}`, `has shape [3] but 1 values`},
		{protoOIP, `{"inputs": [{"name": "n", "datatype": "FP64", "data": [1]}]}`, `record 0: missing column "c"`},
		{protoAzure, `{"data": [` + strings.Repeat("[", 100) + `]}`, "nesting too deep"},
	}
	for _, c := range cases {
		_, err := l.decode(c.proto, []byte(c.body), &scratch{}, decodeOpts{strict: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60s: got %v, want %q", c.body, err, c.want)
		}
	}
}

// The decoder reports the columns it ignored, once each, so the handler
// can log and count them.
func TestDecodeIgnored(t *testing.T) {
	l := tinyLoaded(t)
	cases := []struct {
		proto protocol
		body  string
	}{
		{protoAzure, `{"data": [{"n": 1, "zz": 0, "c": "x", "b": true, "y\u00e9": 2}, {"yé": [1], "n": 1, "c": "x", "b": true}]}`},
		{protoMLflow, `{"inputs": {"zz": [[1], {}], "n": [1, 2], "c": ["x", "y"], "yé": "any", "b": [true, false]}}`},
		{protoMLflow, `{"dataframe_split": {"data": [[1, "x", true, null, 3], [1, "x", true, null, 3]], "columns": ["n", "c", "b", "zz", "yé"]}}`},
		{protoOIP, `{"inputs": [{"name": "zz", "datatype": "FP99"}, {"name": "n", "datatype": "FP32", "data": [1, 2]}, {"name": "c", "datatype": "BYTES", "data": ["x", "y"]}, {"name": "b", "datatype": "BOOL", "data": [true, false]}, {"name": "yé", "data": 1}]}`},
	}
	for _, c := range cases {
		req, err := l.decode(c.proto, []byte(c.body), &scratch{}, decodeOpts{})
		if err != nil || req.rows != 2 || strings.Join(req.ignored, ",") != "zz,yé" {
			t.Errorf("%s: %v, %d rows, ignored %q", c.body, err, req.rows, req.ignored)
		}
	}
	req, err := l.decodeCSV([]byte("zz,n,\"c\",b,yé\r\n\"a,\"\"b\",1,\"x\",true,\n"), &scratch{}, decodeOpts{})
	if err != nil || req.rows != 1 || strings.Join(req.ignored, ",") != "zz,yé" {
		t.Errorf("csv: %v, %d rows, ignored %q", err, req.rows, req.ignored)
	}
	var many strings.Builder
	for i := range 100 {
		fmt.Fprintf(&many, `"x%d": 1, `, i)
	}
	req, err = l.decode(protoAzure, []byte(`{"data": [{`+many.String()+`"n": 1, "c": "x", "b": true}]}`), &scratch{}, decodeOpts{})
	if err != nil || len(req.ignored) != maxIgnored {
		t.Errorf("100 extra columns: %v, ignored %d names", err, len(req.ignored))
	}
}

func TestDecodeCSV(t *testing.T) {
	l := tinyLoaded(t)
	for _, c := range []struct{ body, want string }{
		{"n,c,b\n1,\"y\",TRUE\n", ""},
		{"\"n\",\"c\"\"\",b\n1,x,1\n", `CSV header: unknown column "c\""`},
		{"n,c,b\n1,\"x\"\"\",0\n", ""},
		{"n,c,b\n1,\"x,0\n", "record 0: unterminated quoted field"},
		{"n,c,b\n1,\"x\"y,0\n", "record 0: text after a quoted field"},
		{"n,c,b\n1,x,yes\n", `record 0, column "b": want true or false, got "yes"`},
		{"n,c,b\n1,x\n", "record 0: has 2 values, the header has 3"},
		{"n,c,b\n\n\n", "CSV needs a header row"},
		{"n,c,b,n\n1,x,true,2\n", `CSV header: column "n" appears twice`},
		{"n,c,b\n1e999,x,true\n", `record 0, column "n": number 1e999 is out of range`},
		{"n,c,b\n-0.5e-3,,\n,x,false\r\n", ""},
		{"\ufeffn,c,b\n1,x,true\n", ""},
	} {
		req, err := l.decodeCSV([]byte(c.body), &scratch{}, decodeOpts{strict: true})
		if c.want == "" && (err != nil || req.rows < 1) || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}

// An OIP tensor's datatype must carry its column's type; the tiny model
// has the boolean column fakemodel lacks.
func TestDecodeOIPDatatype(t *testing.T) {
	l := tinyLoaded(t)
	body := func(b string) []byte {
		return []byte(`{"inputs": [{"name": "n", "datatype": "FP64", "data": [1]}, {"name": "c", "datatype": "BYTES", "data": ["x"]}, ` + b + `]}`)
	}
	if _, err := l.decode(protoOIP, body(`{"name": "b", "datatype": "BOOL", "data": [true]}`), &scratch{}, decodeOpts{}); err != nil {
		t.Error(err)
	}
	for _, dt := range []string{"INT64", "UINT8", "BYTES", "FP32"} {
		_, err := l.decode(protoOIP, body(`{"name": "b", "datatype": "`+dt+`", "data": [1]}`), &scratch{}, decodeOpts{})
		if want := `tensor "b" has datatype ` + dt + `, but column "b" is boolean: send BOOL`; err == nil || err.Error() != "inputs: "+want {
			t.Errorf("%s: %v, want %s", dt, err, want)
		}
	}
	for _, c := range []struct{ shape, want string }{
		{"[4294967296, 4294967296, 4294967296, 1]", "has shape [4294967296 4294967296 4294967296 1] but 1 values"},
		{"[1, 1, 1, 1, 1, 1, 1, 1, 1]", "more than 8 dimensions"},
		{"[1, -1]", "bad tensor shape value -1"},
	} {
		_, err := l.decode(protoOIP, body(`{"name": "b", "datatype": "BOOL", "shape": `+c.shape+`, "data": [true]}`), &scratch{}, decodeOpts{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shape %s: %v, want %s", c.shape, err, c.want)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{1: "1.0", 0.5: "0.5", 1e-5: "1e-05", 1e16: "1e+16", 123456789012345.0: "123456789012345.0", -0.25: "-0.25", 0.0001: "0.0001"} {
		if got := string(appendPyFloat(nil, f)); got != want {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to every protocol's decoder: it must
// never panic; a success must describe a consistent row buffer no bigger
// than the body allows; a strict endpoint must accept only what the
// default one accepts with nothing ignored, and decode it the same.
func FuzzDecode(f *testing.F) {
	for _, b := range []string{
		`{"data": [{"n": 1.5, "c": "y", "b": true}]}`,
		`{"dataframe_split": {"columns": ["n", "c", "b"], "data": [[1, "x", false]]}}`,
		`{"dataframe_split": {"columns": ["n", "zz", "c", "b"], "data": [[1, 0, "x", false]]}}`,
		`{"inputs": {"n": [1, 2], "c": ["x", null], "b": [true, 0], "zz": [1]}}`,
		`{"inputs": [{"name": "n", "datatype": "FP64", "shape": [2, 1], "data": [[1], [2]]}, {"name": "c", "datatype": "BYTES", "data": ["x", "y"]}, {"name": "b", "datatype": "BOOL", "data": [true, false]}], "outputs": [{"name": "predict_proba"}, {"name": "predict"}]}`,
		"n,c,b\n1,x,true\n,\"y\",0\n",
	} {
		f.Add([]byte(b))
	}
	l := tinyLoaded(f)
	check := func(t *testing.T, req request, err error, sc *scratch, body []byte) {
		if err != nil {
			if _, ok := err.(*badRequest); !ok {
				if _, ok := err.(*syntaxError); !ok {
					t.Fatalf("error of type %T: %v", err, err)
				}
			}
			return
		}
		if req.rows < 1 || len(sc.x) != req.rows*l.nc {
			t.Fatalf("rows %d, len(x) %d", req.rows, len(sc.x))
		}
		// Every row holds a value and a separator per column at least
		// (CSV: a separator per column), which bounds memory by the body.
		if per := 2 - b2i(req.shape == shapeCSV); req.rows*l.nc*per > len(body)+1 {
			t.Fatalf("%d rows of %d columns from a %d-byte body", req.rows, l.nc, len(body))
		}
		out := make([]float64, req.rows*l.nout)
		l.predictRows(sc.x, out, req.rows)
		if b := l.encode(nil, &req, out, ClassicString); len(b) == 0 {
			t.Fatal("empty answer")
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for p := protoAzure; p <= protoOIP+1; p++ {
			decode := func(o decodeOpts, sc *scratch) (request, error) {
				if p > protoOIP {
					return l.decodeCSV(body, sc, o)
				}
				return l.decode(p, body, sc, o)
			}
			sc, strict := &scratch{}, &scratch{}
			req, err := decode(decodeOpts{}, sc)
			check(t, req, err, sc, body)
			sreq, serr := decode(decodeOpts{strict: true}, strict)
			check(t, sreq, serr, strict, body)
			switch {
			case serr == nil && (err != nil || len(req.ignored) > 0):
				t.Fatalf("strict accepts what the default refuses or ignores: %v, ignored %q", err, req.ignored)
			case serr == nil && !slices.EqualFunc(sc.x, strict.x, func(a, b float64) bool { return a == b || a != a && b != b }):
				t.Fatalf("strict decodes %v, default %v", strict.x, sc.x)
			case err == nil && serr != nil && len(req.ignored) == 0:
				t.Fatalf("strict refuses (%v) what the default accepts ignoring nothing", serr)
			}
		}
	})
}
