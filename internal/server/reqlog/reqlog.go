// Package reqlog is an endpoint's request log: JSON lines
// (docs/protocols.md#request-log), written off the hot path by one goroutine, rotated by size, and
// read back by `mlflow endpoint logs` and the logs step. It never holds a
// key or a request body.
package reqlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mlflow-go/mlflow/internal/jsonx"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one request.
type Entry struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Protocol  string    `json:"protocol"`
	Status    int       `json:"status"`
	// DurationMS is fractional: scoring takes microseconds.
	DurationMS float64 `json:"duration_ms"`
	Rows       int     `json:"rows"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	Client     string  `json:"client"`
	Auth       string  `json:"auth"` // ok | missing | bad | none
	Error      string  `json:"error,omitempty"`
}

// Writer appends entries to a file. Log formats the line in the caller and appends it to a
// shared buffer; one goroutine writes the buffer out at most every flushGap. A request costs a
// short lock and no goroutine wake-up: handing each entry over a channel woke the writer once
// per request, about 4 % of a busy endpoint's CPU.
type Writer struct {
	path     string
	maxBytes int64
	keep     int
	wake     chan struct{} // capacity 1: "the buffer has lines"
	done     chan struct{}
	dropped  atomic.Int64
	onDrop   func()

	mu      sync.Mutex
	buf     []byte // formatted lines not yet written
	spare   []byte // the writer's last buffer, reused
	closed  bool
	waiting bool // a wake is pending: later lines ride along
}

// Defaults: rotate at 16 MiB and keep 3 old files, so a busy endpoint
// holds at most 64 MiB of log.
const (
	DefaultMaxBytes = 16 << 20
	DefaultKeep     = 3
	// maxPending bounds the lines waiting for the disk (about 4,000 entries).
	maxPending = 1 << 20
)

// Open starts a writer appending to path. onDrop (may be nil) is called
// for each entry dropped: the writer was behind, or the disk refused it.
func Open(path string, maxBytes int64, keep int, onDrop func()) (*Writer, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if keep <= 0 {
		keep = DefaultKeep
	}
	w := &Writer{path: path, maxBytes: maxBytes, keep: keep, wake: make(chan struct{}, 1), done: make(chan struct{}), onDrop: onDrop}
	f, size, err := w.open()
	if err != nil {
		return nil, err
	}
	go w.loop(f, size)
	return w, nil
}

func (w *Writer) open() (*os.File, int64, error) {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("request log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("request log: %w", err)
	}
	return f, st.Size(), nil
}

// Log records e without blocking on the disk; when the writer is behind,
// e is dropped and counted, since a slow disk must never slow scoring.
// After Close it does nothing: a request still in flight when its
// endpoint is replaced may log late.
func (w *Writer) Log(e Entry) {
	var stack [512]byte
	line := Append(stack[:0], &e)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if len(w.buf)+len(line) > maxPending {
		w.mu.Unlock()
		w.drop(1)
		return
	}
	w.buf = append(w.buf, line...)
	if !w.waiting {
		// Under the lock, so Close cannot close wake first. It never blocks: only the first
		// line of a batch sends, and the writer has taken the previous wake before it
		// clears waiting.
		w.waiting = true
		w.wake <- struct{}{}
	}
	w.mu.Unlock()
}

// Dropped is the number of entries lost: the writer was behind, or a write failed.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

func (w *Writer) drop(n int) {
	w.dropped.Add(int64(n))
	if w.onDrop != nil {
		for range n {
			w.onDrop()
		}
	}
}

// Close writes what is buffered and stops the writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.wake)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

// flushGap spaces the writes of a busy log: a request is on disk within
// about this time (so `endpoint logs` right after a call sees it), while a
// busy endpoint writes in chunks instead of one syscall per request.
const flushGap = time.Millisecond

func (w *Writer) loop(f *os.File, size int64) {
	defer close(w.done)
	var last time.Time
	for {
		_, open := <-w.wake
		if open {
			// Let a burst gather: at most one write per flushGap.
			if wait := flushGap - time.Since(last); wait > 0 {
				time.Sleep(wait)
			}
		}
		w.mu.Lock()
		batch := w.buf
		w.buf, w.spare = w.spare[:0], nil
		w.waiting = false
		w.mu.Unlock()
		var err error
		if f, size, err = w.write(f, size, batch); err != nil {
			// Nowhere to write: count what arrives until Close, so Log never blocks.
			w.drain(open)
			return
		}
		last = time.Now()
		w.mu.Lock()
		w.spare = batch[:0]
		w.mu.Unlock()
		if !open {
			f.Close()
			return
		}
	}
}

// write appends batch (whole lines) to f, rotating before the first line that would take the
// file past maxBytes; a line longer than maxBytes gets a file to itself. It returns the file
// now being written and its size. Lines a write refuses are dropped and counted; only an
// error to reopen the file after a rotation is returned.
func (w *Writer) write(f *os.File, size int64, batch []byte) (*os.File, int64, error) {
	for len(batch) > 0 {
		if size+int64(len(batch)) <= w.maxBytes {
			return f, w.put(f, size, batch), nil
		}
		n := 0
		if room := w.maxBytes - size; room > 0 {
			n = bytes.LastIndexByte(batch[:min(int64(len(batch)), room)], '\n') + 1
		}
		if n == 0 && size == 0 {
			if n = bytes.IndexByte(batch, '\n') + 1; n == 0 {
				n = len(batch)
			}
		}
		if n > 0 {
			size = w.put(f, size, batch[:n])
			batch = batch[n:]
			if len(batch) == 0 {
				break
			}
		}
		f.Close()
		w.rotate()
		nf, nsize, err := w.open()
		if err != nil {
			return nil, 0, err
		}
		f, size = nf, nsize
	}
	return f, size, nil
}

// put writes lines (whole lines) to f, which is size long, and returns its new size. A
// failed or short write (a full disk, a file size limit) must not leave a torn line, which
// would also spoil the next one: the file is cut back to its last whole line and the lines
// not on disk are counted as dropped.
func (w *Writer) put(f *os.File, size int64, lines []byte) int64 {
	n, err := f.Write(lines)
	if err == nil && n == len(lines) {
		return size + int64(n)
	}
	n = max(n, 0)
	written := int64(n)
	if n > 0 && lines[n-1] != '\n' {
		whole := bytes.LastIndexByte(lines[:n], '\n') + 1
		if f.Truncate(size+int64(whole)) == nil {
			written = int64(whole)
		} else if m, _ := f.Write([]byte{'\n'}); m == 1 {
			// Cannot cut it: end the torn line here so that it spoils only itself (readers
			// skip a line that does not parse).
			written++
		}
	}
	w.drop(bytes.Count(lines, []byte{'\n'}) - bytes.Count(lines[:n], []byte{'\n'}))
	return size + written
}

// drain counts the lines logged after the file could not be reopened, until Close.
func (w *Writer) drain(open bool) {
	for open {
		_, open = <-w.wake
		w.mu.Lock()
		n := bytes.Count(w.buf, []byte{'\n'})
		w.buf = w.buf[:0]
		w.waiting = false
		w.mu.Unlock()
		w.drop(n)
	}
}

// rotate shifts path.N-1 to path.N ... path to path.1.
func (w *Writer) rotate() {
	for i := w.keep; i >= 1; i-- {
		src := w.path
		if i > 1 {
			src = w.path + "." + strconv.Itoa(i-1)
		}
		os.Rename(src, w.path+"."+strconv.Itoa(i))
	}
}

// Append encodes e as one JSON line, the same bytes encoding/json would
// write (its field order and escaping) without reflection or allocation:
// the writer goroutine shares the cores with scoring.
func Append(dst []byte, e *Entry) []byte {
	dst = append(dst, `{"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","request_id":`...)
	dst = jsonx.AppendString(dst, e.RequestID)
	dst = append(dst, `,"method":`...)
	dst = jsonx.AppendString(dst, e.Method)
	dst = append(dst, `,"path":`...)
	dst = jsonx.AppendString(dst, e.Path)
	dst = append(dst, `,"protocol":`...)
	dst = jsonx.AppendString(dst, e.Protocol)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, `,"duration_ms":`...)
	dst = strconv.AppendFloat(dst, e.DurationMS, 'f', -1, 64)
	dst = append(dst, `,"rows":`...)
	dst = strconv.AppendInt(dst, int64(e.Rows), 10)
	dst = append(dst, `,"bytes_in":`...)
	dst = strconv.AppendInt(dst, e.BytesIn, 10)
	dst = append(dst, `,"bytes_out":`...)
	dst = strconv.AppendInt(dst, e.BytesOut, 10)
	dst = append(dst, `,"client":`...)
	dst = jsonx.AppendString(dst, e.Client)
	dst = append(dst, `,"auth":`...)
	dst = jsonx.AppendString(dst, e.Auth)
	if e.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = jsonx.AppendString(dst, e.Error)
	}
	return append(dst, "}\n"...)
}

// Text formats e as azmlinfsrv's access line: time, method, path, status,
// latency and response size.
func Text(e *Entry) string {
	s := fmt.Sprintf("%s %s %s %s %d %.3fms %d", e.Time.UTC().Format("2006-01-02 15:04:05.000"), e.RequestID, e.Method, e.Path, e.Status, e.DurationMS, e.BytesOut)
	if e.Error != "" {
		s += " error=" + strconv.Quote(e.Error)
	}
	return s
}

// Files returns the log files of path, oldest first.
func Files(path string, keep int) []string {
	if keep <= 0 {
		keep = DefaultKeep
	}
	var out []string
	for i := keep; i >= 1; i-- {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	}
	return out
}

// Read returns every entry of path and its rotated files, oldest first.
// Lines that do not parse (a crash mid-line) are skipped.
func Read(path string) ([]Entry, error) {
	var out []Entry
	for _, p := range Files(path, DefaultKeep) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e Entry
			if len(line) == 0 || json.Unmarshal(line, &e) != nil {
				continue
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Tail returns the last n entries (all when n <= 0).
func Tail(path string, n int) ([]Entry, error) {
	all, err := Read(path)
	if err != nil {
		return nil, err
	}
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all, nil
}

// Follow calls fn for each entry appended to path after offset from until
// ctx ends, following rotation. It polls: the writer is another process.
func Follow(ctx context.Context, path string, from int64, fn func(Entry) error) error {
	var f *os.File
	var off int64 = from
	var pending []byte
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if f == nil {
			nf, err := os.Open(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err == nil {
				f = nf
			}
		}
		if f != nil {
			st, err := os.Stat(path)
			fst, ferr := f.Stat()
			if err == nil && ferr == nil && (!os.SameFile(st, fst) || st.Size() < off) {
				// Rotated: finish nothing more from the old file, start the new one.
				f.Close()
				f, off, pending = nil, 0, nil
				continue
			}
			if _, err := f.Seek(off, io.SeekStart); err == nil {
				b, _ := io.ReadAll(f)
				off += int64(len(b))
				pending = append(pending, b...)
				for {
					k := bytes.IndexByte(pending, '\n')
					if k < 0 {
						break
					}
					var e Entry
					if json.Unmarshal(pending[:k], &e) == nil {
						if err := fn(e); err != nil {
							return err
						}
					}
					pending = pending[k+1:]
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Size is the current length of path (0 when missing), the offset Follow
// starts from to show only new lines.
func Size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Summary is the figures the logs step reports.
type Summary struct {
	Count  int            `json:"count"`
	Status map[string]int `json:"status"`
	Errors int            `json:"errors"`
	Rows   int            `json:"rows"`
	P50MS  float64        `json:"p50_ms"`
	P99MS  float64        `json:"p99_ms"`
	First  string         `json:"first,omitempty"`
	Last   string         `json:"last,omitempty"`
}

// Summarize computes the figures of entries.
func Summarize(es []Entry) Summary {
	s := Summary{Count: len(es), Status: map[string]int{}}
	d := make([]float64, 0, len(es))
	for _, e := range es {
		s.Status[strconv.Itoa(e.Status)]++
		if e.Status >= 400 {
			s.Errors++
		}
		s.Rows += e.Rows
		d = append(d, e.DurationMS)
	}
	if len(es) > 0 {
		sort.Float64s(d)
		s.P50MS = d[(len(d)-1)*50/100]
		s.P99MS = d[(len(d)-1)*99/100]
		s.First = es[0].Time.UTC().Format(time.RFC3339Nano)
		s.Last = es[len(es)-1].Time.UTC().Format(time.RFC3339Nano)
	}
	return s
}
