// Command dataset measures the dataset path: ingest (CSV to typed columns)
// and profile of a file, repeated, and registration of a large file into a
// workspace for peak-RSS measurement. bench.sh drives it beside pandas.
//
//	go run ./bench/dataset -file bank.csv -n 20            # timings, one line each
//	go run ./bench/dataset -gen 1GiB -out /tmp/big.csv     # a large CSV like the bank file
//	go run ./bench/dataset -register /tmp/big.csv -workspace /tmp/ws
//	go run ./bench/dataset -load big -workspace /tmp/ws     # LoadFrame time
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

func main() {
	file := flag.String("file", "", "CSV to time")
	n := flag.Int("n", 20, "repetitions")
	target := flag.String("target", "y", "target column")
	gen := flag.String("gen", "", "generate a CSV of about this size (e.g. 1GiB, 200MiB) from -file's rows")
	out := flag.String("out", "", "where -gen writes")
	register := flag.String("register", "", "register this CSV in -workspace and report sizes")
	ws := flag.String("workspace", "", "workspace for -register and -load")
	load := flag.String("load", "", "load this registered dataset (NAME) from -workspace and time it")
	flag.Parse()
	var err error
	switch {
	case *gen != "":
		err = generate(*file, *gen, *out)
	case *register != "":
		err = registerFile(*register, *ws, *target)
	case *load != "":
		err = loadDataset(*load, *ws)
	default:
		err = timeIt(*file, *target, *n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataset bench:", err)
		os.Exit(1)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// timeIt prints one "read MS read+profile MS" line per run, after one
// warm-up run; bench.sh interleaves these with pandas' and takes medians.
func timeIt(file, target string, n int) error {
	ctx := context.Background()
	for i := range n + 1 {
		t0 := time.Now()
		f, err := tabular.ReadFile(ctx, file, tabular.ReadOptions{Target: target})
		if err != nil {
			return err
		}
		t1 := time.Now()
		f.Profile()
		t2 := time.Now()
		if i > 0 {
			fmt.Printf("read %s read+profile %s\n", ms(t1.Sub(t0)), ms(t2.Sub(t0)))
		}
	}
	return nil
}

func registerFile(file, ws, target string) error {
	ctx := context.Background()
	s, err := store.Open(ws)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	t0 := time.Now()
	f, err := tabular.ReadFile(ctx, file, tabular.ReadOptions{Target: target})
	if err != nil {
		return err
	}
	t1 := time.Now()
	phase("read")
	prof := f.Profile()
	phase("profile")
	d, _, err := datasets.Register(ctx, s, f, datasets.Registration{Name: "big", Source: file, Profile: prof})
	phase("register")
	if err != nil {
		return err
	}
	t2 := time.Now()
	fmt.Printf("csv_bytes %d\nrows %d\ncolumnar_bytes %d\nread_s %.2f\nprofile_encode_register_s %.2f\n",
		st.Size(), d.Rows, d.Size, t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds())
	return nil
}

func loadDataset(name, ws string) error {
	ctx := context.Background()
	s, err := store.Open(ws)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := datasets.Get(ctx, s, name, 0)
	if err != nil {
		return err
	}
	t0 := time.Now()
	f, err := datasets.LoadFrame(s, d.Digest)
	if err != nil {
		return err
	}
	fmt.Printf("load_s %.2f rows %d\n", time.Since(t0).Seconds(), f.Rows)
	phase("load")
	return nil
}

// phase prints the heap in use and the peak RSS so far (VmHWM), to see
// which phase sets the peak.
func phase(name string) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hwm := "?"
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				hwm = strings.TrimSpace(v)
			}
		}
	}
	fmt.Printf("after_%s heap_inuse_mb %d peak_rss %s\n", name, ms.HeapInuse>>20, hwm)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return int64(v * float64(mult)), err
}

// generate writes rows drawn from file's rows until the size is reached.
// Two numeric columns get fresh random values (duration as integers,
// euribor3m with three decimals) so the large file has many distinct
// numbers, as real data does, not just the bank file's few.
func generate(file, size, out string) error {
	want, err := parseSize(size)
	if err != nil {
		return fmt.Errorf("-gen %q: %v", size, err)
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	recs, err := csv.NewReader(in).ReadAll()
	in.Close()
	if err != nil {
		return err
	}
	header, rows := recs[0], recs[1:]
	col := func(name string) int { return slices.Index(header, name) }
	dur, eur := col("duration"), col("euribor3m")
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	cw := csv.NewWriter(w)
	cw.Write(header)
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	row := make([]string, len(header))
	for i := 0; written < want; i++ {
		copy(row, rows[rng.IntN(len(rows))])
		if dur >= 0 {
			row[dur] = strconv.Itoa(rng.IntN(5000))
		}
		if eur >= 0 {
			row[eur] = strconv.FormatFloat(float64(rng.IntN(6000))/1000, 'f', -1, 64)
		}
		cw.Write(row)
		for _, s := range row {
			written += int64(len(s)) + 1
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
