package serve_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// benchBodies are the request forms of every protocol at 1 and 100 rows,
// so a decoder change shows its cost per shape, not just for /score.
func benchBodies() []struct{ name, path, ctype, body string } {
	rows := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(fakemodel.RowJSON+", ", n), ", ") + "]"
	}
	names := make([]string, len(fakemodel.Columns))
	for j, c := range fakemodel.Columns {
		names[j] = c.Name
	}
	values := func() []string {
		v := make([]string, len(fakemodel.Columns))
		for j, c := range fakemodel.Columns {
			switch x := c.Example.(type) {
			case string:
				v[j] = `"` + x + `"`
			default:
				v[j] = fmt.Sprint(x)
			}
		}
		return v
	}()
	positional := func(n int) string {
		r := "[" + strings.Join(values, ", ") + "]"
		return "[" + strings.TrimSuffix(strings.Repeat(r+", ", n), ", ") + "]"
	}
	columns := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"inputs": {`)
		for j, c := range names {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`"` + c + `": [` + strings.TrimSuffix(strings.Repeat(values[j]+", ", n), ", ") + `]`)
		}
		b.WriteString("}}")
		return b.String()
	}
	oip := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"id": "1", "inputs": [`)
		for j, c := range fakemodel.Columns {
			if j > 0 {
				b.WriteString(", ")
			}
			dt := map[string]string{"integer": "INT64", "number": "FP64", "string": "BYTES", "boolean": "BOOL"}[c.Type]
			b.WriteString(`{"name": "` + c.Name + `", "shape": [` + itoa(n) + `], "datatype": "` + dt + `", "data": [` + strings.TrimSuffix(strings.Repeat(values[j]+", ", n), ", ") + `]}`)
		}
		b.WriteString("]}")
		return b.String()
	}
	csv := func(n int) string {
		line := strings.ReplaceAll(strings.Join(values, ","), `"`, "")
		return strings.Join(names, ",") + "\n" + strings.Repeat(line+"\n", n)
	}
	var out []struct{ name, path, ctype, body string }
	for _, n := range []int{1, 100} {
		s := "/" + itoa(n)
		out = append(out,
			struct{ name, path, ctype, body string }{"records" + s, "/score", "application/json", `{"data": ` + rows(n) + `}`},
			struct{ name, path, ctype, body string }{"positional" + s, "/score", "application/json", `{"data": ` + positional(n) + `}`},
			struct{ name, path, ctype, body string }{"split" + s, "/invocations", "application/json", `{"dataframe_split": {"columns": ["` + strings.Join(names, `", "`) + `"], "data": ` + positional(n) + `}}`},
			struct{ name, path, ctype, body string }{"columns" + s, "/invocations", "application/json", columns(n)},
			struct{ name, path, ctype, body string }{"oip" + s, "/v2/models/bankmarketing/infer", "application/json", oip(n)},
			struct{ name, path, ctype, body string }{"csv" + s, "/invocations", "text/csv", csv(n)},
		)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkDecodeShapes is one request per protocol form through the
// handler (no auth): decode dominates at 100 rows.
func BenchmarkDecodeShapes(b *testing.B) {
	h := serve.New(serve.Options{Endpoint: "bankmarketing"})
	if err := h.Swap(fakemodel.New("bankmarketing", 3), fakemodel.Columns); err != nil {
		b.Fatal(err)
	}
	for _, c := range benchBodies() {
		b.Run(c.name, func(b *testing.B) {
			body := []byte(c.body)
			req := httptest.NewRequest("POST", c.path, nil)
			req.Header.Set("Content-Type", c.ctype)
			rd := bytes.NewReader(body)
			req.Body = noClose{rd}
			req.ContentLength = int64(len(body))
			w := &sink{h: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var start syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &start)
			for b.Loop() {
				rd.Reset(body)
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
			}
			reportCPU(b, start)
			if w.code != 0 && w.code != 200 {
				b.Fatalf("status %d for %.200s", w.code, c.body)
			}
		})
	}
}

// reportCPU adds the process's CPU time per operation: on a shared,
// loaded machine it varies far less than wall time, since time spent
// waiting for a core is not counted.
func reportCPU(b *testing.B, start syscall.Rusage) {
	var end syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &end)
	ns := func(r syscall.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	b.ReportMetric(float64(ns(end)-ns(start))/float64(b.N), "cpu-ns/op")
}
