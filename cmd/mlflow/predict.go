package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"os"
	"strconv"

	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/store"
)

func cmdPredict() *command {
	var modelRef, input, output string
	return &command{
		name:  "predict",
		usage: "--model NAME[:VERSION]|FILE --input rows.csv [--output preds.csv]",
		short: "predict a CSV file's rows with a registered model or a model file",
		long: `Writes CSV: a "prediction" column, then one "probability_<class>" column per class
for classification, one line per input row in input order. Input columns are matched by
name; extra columns are ignored, a missing one is an error.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.StringVar(&modelRef, "model", "", "model `NAME[:VERSION]` or model.json file")
			fs.StringVar(&input, "input", "", "input CSV `file` (- for stdin)")
			fs.StringVar(&output, "output", "", "output CSV `file` (default stdout)")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usagef("predict takes no arguments (use --model and --input)")
			}
			if modelRef == "" || input == "" {
				return usagef("predict needs --model and --input")
			}
			var s *store.Store
			if !isFileRef(modelRef) {
				var err error
				if s, err = c.openStore(false); err != nil {
					return err
				}
				defer s.Close()
			}
			m, _, err := models.Resolve(ctx, s, modelRef)
			if errors.Is(err, store.ErrNotFound) {
				return invalidf("%v", err)
			}
			if err != nil {
				return invalidf("--model %s: %v", modelRef, err)
			}
			var in io.Reader = c.stdin
			name := "stdin"
			if input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return invalidf("--input: %v", err)
				}
				defer f.Close()
				in, name = f, input
			}
			r := csv.NewReader(bufio.NewReader(in))
			r.ReuseRecord = true
			header, err := r.Read()
			if err != nil {
				return invalidf("%s: no header line: %v", name, err)
			}
			header = append([]string(nil), header...)
			if len(header) > 0 {
				header[0] = trimBOM(header[0])
			}
			pos := map[string]int{}
			for i, h := range header {
				pos[h] = i
			}
			ins := m.Inputs()
			cols := make([]int, len(ins))
			for j, inp := range ins {
				i, ok := pos[inp.Name]
				if !ok {
					return invalidf("%s: column %q is missing (the model needs it)", name, inp.Name)
				}
				cols[j] = i
			}
			var out io.Writer = c.stdout
			var tmp *os.File
			if output != "" {
				// Written beside the target and renamed at the end: never a half-written file.
				tmp, err = os.CreateTemp(dirOf(output), ".predict-*")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				out = tmp
			}
			bw := bufio.NewWriter(out)
			w := csv.NewWriter(bw)
			classes := m.Classes()
			head := []string{"prediction"}
			for _, cl := range classes {
				head = append(head, "probability_"+cl)
			}
			w.Write(head)
			// Rows are scored a chunk at a time (PredictBatch keeps each tree in cache across
			// the chunk); output order and values equal row-by-row Predict.
			const chunk = 1024
			nin, no := len(ins), max(1, len(classes))
			x := make([]float64, 0, chunk*nin)
			pred := make([]float64, chunk*no)
			rec := make([]string, len(head))
			n := 0 // rows in x (counted apart: a model may have no inputs)
			flush := func() {
				m.PredictBatch(x, n, pred)
				for i := range n {
					p := pred[i*no : (i+1)*no]
					if classes == nil {
						rec[0] = strconv.FormatFloat(p[0], 'g', -1, 64)
					} else {
						rec[0] = m.Label(p)
						for k, v := range p {
							rec[k+1] = strconv.FormatFloat(v, 'g', 6, 64)
						}
					}
					w.Write(rec)
				}
				x, n = x[:0], 0
			}
			for line := 2; ; line++ {
				row, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					return invalidf("%s: %v", name, err)
				}
				for j, ci := range cols {
					v, err := m.Value(j, row[ci])
					if err != nil {
						return invalidf("%s:%d: %v", name, line, err)
					}
					x = append(x, v)
				}
				if n++; n == chunk {
					flush()
				}
			}
			flush()
			w.Flush()
			if err := w.Error(); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if tmp != nil {
				if err := tmp.Close(); err != nil {
					return err
				}
				if err := os.Rename(tmp.Name(), output); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func isFileRef(ref string) bool {
	for _, r := range ref {
		if r == '/' || r == '\\' {
			return true
		}
	}
	if len(ref) > 5 && ref[len(ref)-5:] == ".json" {
		return true
	}
	st, err := os.Stat(ref)
	return err == nil && !st.IsDir()
}

func trimBOM(s string) string {
	if len(s) >= 3 && s[:3] == "\xef\xbb\xbf" {
		return s[3:]
	}
	return s
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i+1]
		}
	}
	return "."
}
