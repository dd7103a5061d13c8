package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/loadgen"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/store"
)

// headerFlags is ab's repeatable -H 'Name: value'.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// secondsFlag is ab's -t and -s: whole seconds, as ab takes them, or a Go
// duration ("500ms", "1m").
type secondsFlag struct{ d *time.Duration }

func (s secondsFlag) String() string {
	if s.d == nil || *s.d == 0 {
		return ""
	}
	return s.d.String()
}

func (s secondsFlag) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		*s.d = time.Duration(n * float64(time.Second))
	} else if *s.d, err = time.ParseDuration(v); err != nil {
		return fmt.Errorf("%q: want seconds or a duration such as 500ms", v)
	}
	if *s.d <= 0 {
		return fmt.Errorf("%q: must be more than zero", v)
	}
	return nil
}

func cmdBench() *command {
	var (
		requests, concurrency, verbosity int
		keepalive, ab, quiet             bool
		duration, timeout, warmup        time.Duration
		rate                             float64
		postFile, contentType, method    string
		endpoint, svgFile                string
		headers                          headerFlags
	)
	return &command{
		name:  "bench",
		usage: "URL | --endpoint NAME [-n N] [-c N] [-k] [-t SECONDS] [-p FILE -T TYPE] [-H 'Name: value']... [--rate R] [--ab]",
		short: "load-test a URL or an endpoint, with ab's flags (the benchmark step's generator)",
		long: `Runs the load generator of the benchmark step from the command line. The flags are
Apache Bench's, so Azure's benchmark.sh line works with "mlflow bench" in place of "ab":

  mlflow bench -n 10 -v 4 -p data.json -T 'application/json' -H 'Authorization: Bearer KEY' http://HOST/score

Closed loop by default: -c workers send back to back until -n requests are done or -t has
passed (ab's default is one request). --rate R switches to the open loop: R requests per
second for -t, each request's latency counted from when it was due, so a stall is not
hidden. --endpoint NAME loads a deployed endpoint of the workspace, with its key.

Prints a table; --ab prints ab's own summary layout ("Requests per second", "Time per
request", "Failed requests", the percentile table), --json the report (docs/steps.md,
the report output). Failures are counted, not fatal: the exit code is 0 once the test
ran, 2 for a bad command line, 1 when interrupted (the report so far is printed).`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.IntVar(&requests, "n", 0, "`requests` to perform (ab -n; default 1 without -t)")
			fs.IntVar(&concurrency, "c", 1, "`concurrency`: requests in flight at once (ab -c)")
			fs.BoolVar(&keepalive, "k", false, "keep connections alive (ab -k); without it, one connection per request")
			fs.Var(secondsFlag{&duration}, "t", "time limit: `seconds` or a duration (ab -t)")
			fs.Var(secondsFlag{&timeout}, "s", "per-request timeout: `seconds` or a duration (ab -s, default 30)")
			fs.StringVar(&postFile, "p", "", "`file` to POST with every request (ab -p)")
			fs.StringVar(&contentType, "T", "", "Content-Type of the -p body (ab -T; default application/json)")
			fs.Var(&headers, "H", "extra `header` 'Name: value', repeatable (ab -H)")
			fs.StringVar(&method, "m", "", "HTTP `method` (ab -m; default GET, or POST with -p)")
			fs.IntVar(&verbosity, "v", 0, "ab's verbosity `level`: accepted for benchmark.sh, no effect")
			fs.BoolVar(&quiet, "q", false, "no progress line (ab -q)")
			fs.Float64Var(&rate, "rate", 0, "open loop: `requests` per second for -t")
			fs.Var(secondsFlag{&warmup}, "warmup", "run the same load first for `seconds` or a duration, and forget it")
			fs.BoolVar(&ab, "ab", false, "print ab's summary layout")
			fs.StringVar(&endpoint, "endpoint", "", "a deployed endpoint's `name`: its scoring URL and key from the workspace")
			fs.StringVar(&svgFile, "svg", "", "write the latency histogram picture to `file`")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			lc := loadgen.Config{Requests: requests, Concurrency: concurrency, KeepAlive: keepalive, Duration: duration,
				Timeout: timeout, Warmup: warmup, Rate: rate, Method: method, Header: http.Header{}}
			switch {
			case endpoint != "" && len(args) > 0:
				return usagef("bench takes a URL or --endpoint NAME, not both")
			case endpoint == "" && len(args) != 1:
				return usagef("bench needs one URL (or --endpoint NAME)")
			case ab && c.json:
				return usagef("bench: --ab and --json exclude each other")
			case verbosity < 0:
				return usagef("bench: -v %d: want 0 or more", verbosity)
			}
			if lc.Requests == 0 && lc.Duration == 0 && lc.Rate == 0 {
				lc.Requests = 1 // ab's default
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return usagef("bench: -H %q: want 'Name: value'", h)
				}
				lc.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if postFile != "" {
				b, err := readPayload(postFile)
				if err != nil {
					return invalidf("bench: -p: %v", err)
				}
				lc.Body = b
				if contentType == "" {
					contentType = "application/json"
				}
			}
			if contentType != "" {
				lc.Header.Set("Content-Type", contentType)
			}
			if endpoint != "" {
				u, key, err := c.endpointTarget(ctx, endpoint)
				if err != nil {
					return err
				}
				lc.URL = u
				if key != "" && lc.Header.Get("Authorization") == "" {
					lc.Header.Set("Authorization", "Bearer "+key)
				}
			} else {
				lc.URL = args[0]
			}
			if err := lc.Validate(); err != nil {
				return invalidf("bench: %v", err)
			}
			if c.tty && !c.json && !quiet {
				lc.Progress = progressLine(c)
			}
			res, err := loadgen.Run(ctx, lc)
			if lc.Progress != nil {
				fmt.Fprint(c.stderr, "\r\033[K")
			}
			if res == nil {
				if err == nil {
					err = errors.New("no result")
				}
				return err
			}
			if svgFile != "" {
				if werr := writeSVG(svgFile, res, lc.URL); werr != nil {
					return werr
				}
			}
			rep := res.Report()
			if svgFile != "" {
				rep.Histogram = svgFile
			}
			switch {
			case c.json:
				b, _ := json.Marshal(rep)
				fmt.Fprintf(c.stdout, "%s\n", b)
			case ab:
				loadgen.WriteAB(c.stdout, lc, res)
			default:
				fmt.Fprintf(c.stdout, "%s %s\n", benchMethod(lc), clean(lc.URL))
				loadgen.WriteTable(c.stdout, rep)
			}
			if err != nil {
				return fmt.Errorf("bench interrupted after %d requests: %w", res.Requests, err)
			}
			return nil
		},
	}
}

func benchMethod(c loadgen.Config) string {
	switch {
	case c.Method != "":
		return c.Method
	case c.Body != nil:
		return "POST"
	}
	return "GET"
}

// readPayload reads a -p file whole: it is sent with every request, so it
// must be a regular file of a size memory holds.
func readPayload(name string) ([]byte, error) {
	const limit = 64 << 20
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a benchmark sends", name, fi.Size(), limit)
	}
	return os.ReadFile(name)
}

// endpointTarget is a deployed endpoint's scoring URL, from the running
// workspace server, and its primary key ("" when it has none).
func (c *cli) endpointTarget(ctx context.Context, name string) (string, string, error) {
	if err := endpoints.ValidName(name); err != nil {
		return "", "", invalidf("bench --endpoint: %v", err)
	}
	s, err := c.openStore(false)
	if err != nil {
		return "", "", err
	}
	defer s.Close()
	if _, err := getEndpoint(ctx, s, name); err != nil {
		return "", "", err
	}
	in, err := server.Find(ctx, s)
	if err != nil {
		return "", "", fmt.Errorf("bench --endpoint %s: %w (start it with mlflow server)", name, err)
	}
	k, err := endpoints.ReadKeys(s, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return in.EndpointURL(name) + "/score", "", nil
	case err != nil:
		return "", "", err
	}
	return in.EndpointURL(name) + "/score", k.Primary, nil
}

func writeSVG(name string, res *loadgen.Result, url string) error {
	f, err := os.Create(name)
	if err != nil {
		return invalidf("bench: --svg: %v", err)
	}
	rep := res.Report()
	err = loadgen.WriteSVG(f, res.Latency, fmt.Sprintf("%s: %d requests, p50 %.3f ms, p99 %.3f ms", url, rep.Requests, rep.P50MS, rep.P99MS))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// progressLine redraws one line on the terminal: requests done, failures,
// and how far the run is.
func progressLine(c *cli) func(loadgen.Progress) {
	return func(p loadgen.Progress) {
		part := ""
		switch {
		case p.Total > 0:
			part = fmt.Sprintf("%d/%d requests", p.Done, p.Total)
		case p.Duration > 0:
			part = fmt.Sprintf("%d requests, %.1fs of %s", p.Done, p.Elapsed.Seconds(), p.Duration)
		}
		rps := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rps = float64(p.Done) / s
		}
		fmt.Fprintf(c.stderr, "\r\033[K%s, %d failed, %.0f requests/s", part, p.Failures, rps)
	}
}
