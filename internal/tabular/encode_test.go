package tabular

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func roundTrip(t *testing.T, f *Frame) *Frame {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// equalFrames compares with NaN == NaN.
func equalFrames(t *testing.T, a, b *Frame) {
	t.Helper()
	if a.Rows != b.Rows || a.Target != b.Target || len(a.Columns) != len(b.Columns) {
		t.Fatalf("frames differ: %d/%d rows, target %q/%q, %d/%d columns", a.Rows, b.Rows, a.Target, b.Target, len(a.Columns), len(b.Columns))
	}
	for i, c := range a.Columns {
		d := b.Columns[i]
		if c.Name != d.Name || c.Type != d.Type || c.Integer != d.Integer || !reflect.DeepEqual(c.Levels, d.Levels) || !reflect.DeepEqual(c.Codes, d.Codes) {
			t.Fatalf("column %d differs:\n%+v\n%+v", i, c, d)
		}
		if len(c.Num) != len(d.Num) {
			t.Fatalf("column %s: %d values, %d", c.Name, len(c.Num), len(d.Num))
		}
		for j := range c.Num {
			if math.Float64bits(c.Num[j]) != math.Float64bits(d.Num[j]) {
				t.Fatalf("column %s row %d: %v != %v", c.Name, j, c.Num[j], d.Num[j])
			}
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	// Code widths 1, 2 and 4, missing values of every type.
	wide2 := &Column{Name: "w2", Type: Categorical, Codes: make([]int32, 70000), Levels: make([]string, 300)}
	wide4 := &Column{Name: "w4", Type: Categorical, Codes: make([]int32, 70000), Levels: make([]string, 66000)}
	for i := range wide2.Levels {
		wide2.Levels[i] = fmt.Sprint("l", i)
	}
	for i := range wide4.Levels {
		wide4.Levels[i] = fmt.Sprint("m", i)
	}
	num := &Column{Name: "n", Type: Numeric, Num: make([]float64, 70000)}
	small := &Column{Name: "s", Type: Categorical, Codes: make([]int32, 70000), Levels: []string{"a", "ü", ""}}
	boolean := &Column{Name: "b", Type: Boolean, Codes: make([]int32, 70000), Levels: []string{"False", "true"}}
	for i := range 70000 {
		wide2.Codes[i] = int32(i%301) - 1
		wide4.Codes[i] = int32(i%66001) - 1
		num.Num[i] = float64(i) * 0.5
		small.Codes[i] = int32(i%4) - 1
		boolean.Codes[i] = int32(i%3) - 1
	}
	num.Num[7] = math.NaN()
	num.Num[8] = math.Inf(-1)
	f := &Frame{Rows: 70000, Target: "s", Columns: []*Column{num, small, wide2, wide4, boolean}}
	equalFrames(t, f, roundTrip(t, f))

	bank, err := ReadFile(context.Background(), bankFile, ReadOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	equalFrames(t, bank, roundTrip(t, bank))
}

func TestEncodeDeterministic(t *testing.T) {
	in := "a,b,c\n1,x,true\n2,y,false\n,x,\n"
	var one, two bytes.Buffer
	mustRead(t, in, ReadOptions{}).Encode(&one)
	mustRead(t, in, ReadOptions{}).Encode(&two)
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Fatal("equal input, different encodings")
	}
}

func TestDecodeCorrupt(t *testing.T) {
	f := mustRead(t, "a,b\n1,x\n2,y\n3,z\n", ReadOptions{})
	var buf bytes.Buffer
	f.Encode(&buf)
	good := buf.Bytes()
	// Every truncation is an error, never a panic.
	for n := range len(good) {
		if _, err := Decode(bytes.NewReader(good[:n])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err %v", n, err)
		}
	}
	bad := bytes.Clone(good)
	bad[len(bad)-5] = 9 // the last code (before the CRC), beyond the 3 levels
	if _, err := Decode(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "beyond its 3 levels") {
		t.Errorf("bad code: %v", err)
	}
	// A flipped bit in a value leaves a well-formed frame: the CRC tells.
	flip := bytes.Clone(good)
	flip[len(flip)-4-3-2] ^= 0x10
	if _, err := Decode(bytes.NewReader(flip)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("flipped bit: %v", err)
	}
	if _, err := Decode(bytes.NewReader(append(bytes.Clone(good), 0))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := Decode(strings.NewReader("PK\x03\x04 not a frame")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad magic: %v", err)
	}
	// Sizes in a damaged header are refused before they are allocated.
	huge := bytes.Clone(good)
	huge[8+4] = 0x10 // rows (u64 at offset 8) now 2^36 + 3
	if _, err := Decode(bytes.NewReader(huge)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "the header needs") {
		t.Errorf("huge rows: %v", err)
	}
	v2 := bytes.Clone(good)
	v2[4] = 2
	if _, err := Decode(bytes.NewReader(v2)); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("future version: %v", err)
	}
}
