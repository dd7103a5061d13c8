package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlflow-go/mlflow/internal/artifact"
)

// ms converts a histogram value (µs) to milliseconds.
func ms(us int64) float64 { return float64(us) / 1000 }

// Report is the result as the benchmark step's report output and
// `mlflow bench --json` print it: latencies in milliseconds.
func (r *Result) Report() artifact.Report {
	out := artifact.Report{
		Requests:   int(r.Requests),
		Successes:  int(r.Successes),
		Failures:   int(r.Failures),
		Status:     map[string]int{},
		Bytes:      r.Bytes,
		DurationMS: round3(float64(r.Elapsed) / float64(time.Millisecond)),
	}
	if r.Requests > 0 {
		out.ErrorRate = round6(float64(r.Failures) / float64(r.Requests))
	}
	if r.Elapsed > 0 {
		out.RPS = round3(float64(r.Requests) / r.Elapsed.Seconds())
	}
	for k, v := range r.Status {
		out.Status[strconv.Itoa(k)] = int(v)
	}
	if len(r.Errors) > 0 {
		out.Errors = map[string]int{}
		for k, v := range r.Errors {
			out.Errors[k] = int(v)
		}
	}
	if h := r.Latency; h != nil && h.TotalCount() > 0 {
		out.MinMS = ms(h.Min())
		out.MeanMS = round3(h.Mean() / 1000)
		out.P50MS = ms(h.ValueAtQuantile(50))
		out.P90MS = ms(h.ValueAtQuantile(90))
		out.P99MS = ms(h.ValueAtQuantile(99))
		out.P999MS = ms(h.ValueAtQuantile(99.9))
		out.MaxMS = ms(h.Max())
	}
	return out
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// WriteTable prints the report as the benchmark step logs it and `mlflow
// bench` prints it by default.
func WriteTable(w io.Writer, rep artifact.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "requests\t%d\t(%d ok, %d failed, error rate %.4g)\n", rep.Requests, rep.Successes, rep.Failures, rep.ErrorRate)
	fmt.Fprintf(tw, "throughput\t%.1f requests/s\tover %.3f s\n", rep.RPS, rep.DurationMS/1000)
	answered := 0
	for _, n := range rep.Status {
		answered += n
	}
	if answered == 0 {
		fmt.Fprintf(tw, "latency ms\tnone: no request was answered\n")
	} else {
		fmt.Fprintf(tw, "latency ms\tmin %.3f\tmean %.3f\tp50 %.3f\tp90 %.3f\tp99 %.3f\tp99.9 %.3f\tmax %.3f\n",
			rep.MinMS, rep.MeanMS, rep.P50MS, rep.P90MS, rep.P99MS, rep.P999MS, rep.MaxMS)
	}
	if len(rep.Status) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(rep.Status)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, rep.Status[k]))
		}
		fmt.Fprintf(tw, "status\t%s\n", strings.Join(parts, ", "))
	}
	if len(rep.Errors) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(rep.Errors)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, rep.Errors[k]))
		}
		fmt.Fprintf(tw, "errors\t%s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "received\t%d bytes\n", rep.Bytes)
	tw.Flush()
}

// WriteAB prints the result in ab's own layout, so the lines readers of
// Azure's benchmark.sh look for ("Requests per second", "Time per
// request", "Failed requests", the percentile table) are where they
// expect them. As in ab, "Failed requests" counts requests without an
// answer or with a body of another length than the first; answers with a
// non-2xx status are "Non-2xx responses".
func WriteAB(w io.Writer, c Config, r *Result) {
	u, _ := url.Parse(c.URL)
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	secs := r.Elapsed.Seconds()
	fmt.Fprintf(w, "Server Hostname:        %s\n", host)
	fmt.Fprintf(w, "Server Port:            %s\n\n", port)
	fmt.Fprintf(w, "Document Path:          %s\n", u.RequestURI())
	fmt.Fprintf(w, "Document Length:        %d bytes\n\n", r.DocLength)
	fmt.Fprintf(w, "Concurrency Level:      %d\n", c.Concurrency)
	fmt.Fprintf(w, "Time taken for tests:   %.3f seconds\n", secs)
	fmt.Fprintf(w, "Complete requests:      %d\n", r.Requests)
	var noAnswer int64
	for _, n := range r.Errors {
		noAnswer += n
	}
	fmt.Fprintf(w, "Failed requests:        %d\n", noAnswer+r.LengthErrors)
	if noAnswer+r.LengthErrors > 0 {
		fmt.Fprintf(w, "   (Connect: %d, Receive: %d, Length: %d, Exceptions: %d)\n",
			r.Errors["connection refused"]+r.Errors["unknown host"]+r.Errors["host unreachable"],
			r.Errors["connection closed before the answer ended"]+r.Errors["connection reset"]+r.Errors["timeout"],
			r.LengthErrors,
			r.Errors["bad response"]+r.Errors["other"]+r.Errors["TLS certificate not trusted"]+r.Errors["cancelled"])
	}
	var non2xx int64
	for code, n := range r.Status {
		if code < 200 || code >= 300 {
			non2xx += n
		}
	}
	if non2xx > 0 {
		fmt.Fprintf(w, "Non-2xx responses:      %d\n", non2xx)
	}
	if c.KeepAlive {
		fmt.Fprintf(w, "Keep-Alive requests:    %d\n", r.KeepAliveRequests)
	}
	fmt.Fprintf(w, "Total transferred:      %d bytes\n", r.Bytes)
	if c.Body != nil {
		fmt.Fprintf(w, "Total body sent:        %d\n", r.Sent)
	}
	fmt.Fprintf(w, "HTML transferred:       %d bytes\n", r.BodyBytes)
	rps, perReq, across, kbps := 0.0, 0.0, 0.0, 0.0
	if secs > 0 && r.Requests > 0 {
		rps = float64(r.Requests) / secs
		perReq = float64(c.Concurrency) * secs * 1000 / float64(r.Requests)
		across = secs * 1000 / float64(r.Requests)
		kbps = float64(r.Bytes) / 1024 / secs
	}
	fmt.Fprintf(w, "Requests per second:    %.2f [#/sec] (mean)\n", rps)
	fmt.Fprintf(w, "Time per request:       %.3f [ms] (mean)\n", perReq)
	fmt.Fprintf(w, "Time per request:       %.3f [ms] (mean, across all concurrent requests)\n", across)
	fmt.Fprintf(w, "Transfer rate:          %.2f [Kbytes/sec] received\n", kbps)
	if c.Body != nil && secs > 0 {
		sent := float64(r.Sent) / 1024 / secs
		fmt.Fprintf(w, "                        %.2f kb/s sent\n", sent)
		fmt.Fprintf(w, "                        %.2f kb/s total\n", sent+kbps)
	}
	h := r.Latency
	if h == nil || h.TotalCount() == 0 {
		return
	}
	// ab prints whole milliseconds here; so do we, so scripts that parse
	// the columns read the same numbers.
	msi := func(us float64) int64 { return int64(math.Round(us / 1000)) }
	fmt.Fprintf(w, "\nConnection Times (ms)\n")
	fmt.Fprintf(w, "              min  mean[+/-sd] median   max\n")
	fmt.Fprintf(w, "Total:      %5d %5d %5.1f %6d %7d\n",
		msi(float64(h.Min())), msi(h.Mean()), h.StdDev()/1000, msi(float64(h.ValueAtQuantile(50))), msi(float64(h.Max())))
	fmt.Fprintf(w, "\nPercentage of the requests served within a certain time (ms)\n")
	for _, p := range []int{50, 66, 75, 80, 90, 95, 98, 99} {
		fmt.Fprintf(w, " %3d%% %6d\n", p, msi(float64(h.ValueAtQuantile(float64(p)))))
	}
	fmt.Fprintf(w, " 100%% %6d (longest request)\n", msi(float64(h.Max())))
}
