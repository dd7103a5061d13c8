package tabular

import (
	"bytes"
	"context"
	"testing"
)

// bankFile is the example's training file, in the repository.
const bankFile = "../../examples/bankmarketing/data/bankmarketing_train.csv"

// BenchmarkIngestBank is the figure: read, type and profile the
// 26,360-row training file.
func BenchmarkIngestBank(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		f, err := ReadFile(context.Background(), bankFile, ReadOptions{Target: "y"})
		if err != nil {
			b.Fatal(err)
		}
		f.Profile()
	}
}

func BenchmarkReadBank(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadFile(context.Background(), bankFile, ReadOptions{Target: "y"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProfileBank(b *testing.B) {
	f, err := ReadFile(context.Background(), bankFile, ReadOptions{Target: "y"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.Profile()
	}
}

func BenchmarkDecodeBank(b *testing.B) {
	f, err := ReadFile(context.Background(), bankFile, ReadOptions{Target: "y"})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	f.Encode(&buf)
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
