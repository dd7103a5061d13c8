package tabular

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"unsafe"
)

// The columnar encoding, version 1, all integers little-endian:
//
//	"MLFT" u16 version u16 reserved(0)
//	u64 rows  u32 columns  str target
//	per column: str name, u8 type, u8 flags (1 = integer), u8 code width
//	            (0 numeric; 1, 2 or 4), u32 levels, levels as str
//	per column, in order: rows float64s, or rows codes of the column's width
//	u32 CRC-32C of everything before it
//	str = u32 length + bytes
//
// Codes of width 1 and 2 are stored +1 so that 0 is missing; width 4 is the
// int32 code with -1 missing. The blob's sha256 names it, but checking
// that on every load would double the load time; the CRC-32C (hardware,
// ~20x faster) catches a damaged file instead. Decode also checks every
// length and code, so bad input is an error, never a panic or a huge
// allocation.
const (
	magic       = "MLFT"
	encVersion  = 1
	maxStrLen   = 1 << 24
	chunkValues = 8192
)

// ErrCorrupt is returned by Decode for input that is not a valid encoding.
var ErrCorrupt = errors.New("not a valid columnar frame")

func codeWidth(levels int) int {
	switch {
	case levels < 1<<8:
		return 1
	case levels < 1<<16:
		return 2
	}
	return 4
}

// Encode writes f in the columnar encoding. Equal frames encode to equal
// bytes, so the blob's digest identifies the content.
func (f *Frame) Encode(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	var scratch [8]byte
	u16 := func(v uint16) { binary.LittleEndian.PutUint16(scratch[:], v); bw.Write(scratch[:2]) }
	u32 := func(v uint32) { binary.LittleEndian.PutUint32(scratch[:], v); bw.Write(scratch[:4]) }
	u64 := func(v uint64) { binary.LittleEndian.PutUint64(scratch[:], v); bw.Write(scratch[:8]) }
	str := func(s string) { u32(uint32(len(s))); bw.WriteString(s) }

	bw.WriteString(magic)
	u16(encVersion)
	u16(0)
	u64(uint64(f.Rows))
	u32(uint32(len(f.Columns)))
	str(f.Target)
	for _, c := range f.Columns {
		if c.Len() != f.Rows {
			return fmt.Errorf("encode: column %q has %d rows, the frame %d", c.Name, c.Len(), f.Rows)
		}
		str(c.Name)
		bw.WriteByte(byte(c.Type))
		var flags byte
		if c.Integer {
			flags |= 1
		}
		bw.WriteByte(flags)
		if c.Type == Numeric {
			bw.WriteByte(0)
			u32(0)
			continue
		}
		bw.WriteByte(byte(codeWidth(len(c.Levels))))
		u32(uint32(len(c.Levels)))
		for _, l := range c.Levels {
			str(l)
		}
	}
	buf := make([]byte, 8*chunkValues)
	for _, c := range f.Columns {
		if c.Type == Numeric {
			for start := 0; start < len(c.Num); start += chunkValues {
				part := c.Num[start:min(start+chunkValues, len(c.Num))]
				for i, v := range part {
					binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
				}
				bw.Write(buf[:8*len(part)])
			}
			continue
		}
		width := codeWidth(len(c.Levels))
		for start := 0; start < len(c.Codes); start += chunkValues {
			part := c.Codes[start:min(start+chunkValues, len(c.Codes))]
			for i, v := range part {
				switch width {
				case 1:
					buf[i] = byte(v + 1)
				case 2:
					binary.LittleEndian.PutUint16(buf[2*i:], uint16(v+1))
				default:
					binary.LittleEndian.PutUint32(buf[4*i:], uint32(v))
				}
			}
			if _, err := bw.Write(buf[:width*len(part)]); err != nil {
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcReader checksums what Decode consumes (not bufio's read-ahead).
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Decode reads a frame written by Encode. It reads the values straight into
// the columns' memory: no parsing, no per-value allocation.
func Decode(r io.Reader) (*Frame, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	in := &crcReader{r: br}
	var scratch [8]byte
	var rerr error
	read := func(n int) []byte {
		if rerr != nil {
			return scratch[:n]
		}
		if _, err := io.ReadFull(in, scratch[:n]); err != nil {
			rerr = err
		}
		return scratch[:n]
	}
	u8 := func() byte { return read(1)[0] }
	u16 := func() uint16 { return binary.LittleEndian.Uint16(read(2)) }
	u32 := func() uint32 { return binary.LittleEndian.Uint32(read(4)) }
	u64 := func() uint64 { return binary.LittleEndian.Uint64(read(8)) }
	str := func() string {
		n := u32()
		if rerr != nil {
			return ""
		}
		if n > maxStrLen {
			rerr = fmt.Errorf("%w: string of %d bytes", ErrCorrupt, n)
			return ""
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(in, b); err != nil {
			rerr = err
		}
		return string(b)
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	fixEOF := func(err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt("truncated")
		}
		return err
	}

	if string(read(4)) != magic || rerr != nil {
		if rerr != nil {
			return nil, fixEOF(rerr)
		}
		return nil, corrupt("bad magic")
	}
	if v := u16(); rerr == nil && v != encVersion {
		return nil, fmt.Errorf("columnar frame version %d: this mlflow reads version %d", v, encVersion)
	}
	u16()
	rows64 := u64()
	ncols := u32()
	target := str()
	if rerr != nil {
		return nil, fixEOF(rerr)
	}
	if rows64 > 1<<40 || ncols > 1<<20 {
		return nil, corrupt("%d rows, %d columns", rows64, ncols)
	}
	// With a known length (a bytes.Reader, LoadFrame's readers) sizes in
	// a damaged header are caught before they are allocated.
	remaining := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok {
		remaining = int64(l.Len() + br.Buffered())
	}
	if remaining >= 0 && uint64(ncols) > uint64(remaining) {
		return nil, corrupt("%d columns in %d bytes", ncols, remaining)
	}
	f := &Frame{Rows: int(rows64), Target: target, Columns: make([]*Column, ncols)}
	widths := make([]int, ncols)
	for i := range f.Columns {
		c := &Column{Name: str(), Type: Type(u8())}
		c.Integer = u8()&1 != 0
		widths[i] = int(u8())
		nl := u32()
		if rerr != nil {
			return nil, fixEOF(rerr)
		}
		switch {
		case c.Type > Boolean:
			return nil, corrupt("column %d has type %d", i, c.Type)
		case c.Type == Numeric && (widths[i] != 0 || nl != 0):
			return nil, corrupt("numeric column %q has codes", c.Name)
		case c.Type != Numeric && widths[i] != codeWidth(int(nl)):
			return nil, corrupt("column %q: code width %d for %d levels", c.Name, widths[i], nl)
		case uint64(nl) > max(rows64, 2):
			return nil, corrupt("column %q has %d levels for %d rows", c.Name, nl, rows64)
		}
		if remaining >= 0 && uint64(nl)*4 > uint64(remaining) {
			return nil, corrupt("column %q: %d levels in %d bytes", c.Name, nl, remaining)
		}
		if nl > 0 {
			c.Levels = make([]string, nl)
			for j := range c.Levels {
				c.Levels[j] = str()
			}
		}
		if rerr != nil {
			return nil, fixEOF(rerr)
		}
		f.Columns[i] = c
	}
	n := f.Rows
	if l, ok := r.(interface{ Len() int }); ok {
		var need uint64
		for i, c := range f.Columns {
			w := uint64(widths[i])
			if c.Type == Numeric {
				w = 8
			}
			need += w * rows64
		}
		if left := uint64(l.Len()+br.Buffered()) - 4; need != left {
			return nil, corrupt("%d bytes of values, the header needs %d", left, need)
		}
	}
	buf := make([]byte, 8*chunkValues)
	for i, c := range f.Columns {
		if c.Type == Numeric {
			c.Num = make([]float64, n)
			raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.Num))), 8*n)
			if _, err := io.ReadFull(in, raw); err != nil {
				return nil, fixEOF(err)
			}
			if !littleEndian {
				for j := range c.Num {
					c.Num[j] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*j:]))
				}
			}
			continue
		}
		c.Codes = make([]int32, n)
		nl := int32(len(c.Levels))
		w := widths[i]
		if w == 4 {
			raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.Codes))), 4*n)
			if _, err := io.ReadFull(in, raw); err != nil {
				return nil, fixEOF(err)
			}
			for j := range c.Codes {
				if !littleEndian {
					c.Codes[j] = int32(binary.LittleEndian.Uint32(raw[4*j:]))
				}
				if c.Codes[j] < -1 || c.Codes[j] >= nl {
					return nil, corrupt("column %q row %d: code %d of %d levels", c.Name, j, c.Codes[j], nl)
				}
			}
			continue
		}
		for start := 0; start < n; start += chunkValues {
			part := c.Codes[start:min(start+chunkValues, n)]
			b := buf[:w*len(part)]
			if _, err := io.ReadFull(in, b); err != nil {
				return nil, fixEOF(err)
			}
			bad := false
			if w == 1 {
				for j := range part {
					v := int32(b[j]) - 1
					bad = bad || v >= nl
					part[j] = v
				}
			} else {
				for j := range part {
					v := int32(binary.LittleEndian.Uint16(b[2*j:])) - 1
					bad = bad || v >= nl
					part[j] = v
				}
			}
			if bad {
				return nil, corrupt("column %q: a code beyond its %d levels", c.Name, nl)
			}
		}
	}
	sum := in.crc
	var trailer [4]byte
	if _, err := io.ReadFull(br, trailer[:]); err != nil {
		return nil, fixEOF(err)
	}
	if binary.LittleEndian.Uint32(trailer[:]) != sum {
		return nil, corrupt("checksum mismatch: the blob is corrupt")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, corrupt("trailing bytes after the last column")
	}
	return f, nil
}
