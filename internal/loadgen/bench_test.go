package loadgen

import (
	"bytes"
	"testing"
)

const azureAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Ms-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n" +
	"Date: Tue, 01 Dec 2026 23:00:00 GMT\r\nContent-Length: 33\r\n\r\n\"{\\\"result\\\": [\\\"yes\\\", \\\"no\\\"]}\""

// BenchmarkReadAnswer is the per-answer parsing cost: it must not allocate,
// or the generator competes with the server under test for the CPU.
func BenchmarkReadAnswer(b *testing.B) {
	stream := bytes.Repeat([]byte(azureAnswer), 1024)
	r := bytes.NewReader(stream)
	in := newInbuf()
	b.ReportAllocs()
	b.SetBytes(int64(len(azureAnswer)))
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 {
			r.Reset(stream)
			in.r, in.w = 0, 0
		}
		var a answer
		if _, err := readAnswer(r, &in, false, &a); err != nil || a.status != 200 {
			b.Fatal(a.status, err)
		}
	}
}
