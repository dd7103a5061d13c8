package serve

import (
	"math"
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
		req, err := l.decode(c.proto, []byte(c.body), sc)
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
	req, err := l.decodeCSV([]byte("c,n,b\r\ny,1.5,true\n\"x\",-2,false\n"), sc)
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
		_, err := l.decode(c.proto, []byte(c.body), &scratch{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60s: got %v, want %q", c.body, err, c.want)
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
// never panic, and a success must describe a consistent row buffer.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"data": [{"n": 1.5, "c": "y", "b": true}]}`))
	f.Add([]byte(`{"dataframe_split": {"columns": ["n", "c", "b"], "data": [[1, "x", false]]}}`))
	l := tinyLoaded(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for p := protoAzure; p <= protoOIP; p++ {
			sc := &scratch{}
			req, err := l.decode(p, body, sc)
			if err != nil {
				if _, ok := err.(*badRequest); !ok {
					if _, ok := err.(*syntaxError); !ok {
						t.Fatalf("error of type %T: %v", err, err)
					}
				}
				continue
			}
			if req.rows < 1 || len(sc.x) != req.rows*l.nc {
				t.Fatalf("rows %d, len(x) %d", req.rows, len(sc.x))
			}
			out := make([]float64, req.rows*l.nout)
			l.predictRows(sc.x, out, req.rows)
			if b := l.encode(nil, &req, out, ClassicString); len(b) == 0 {
				t.Fatal("empty answer")
			}
		}
		l.decodeCSV(body, &scratch{})
	})
}
