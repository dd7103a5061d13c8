package loadgen

import (
	"fmt"
	"html"
	"io"
	"math"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteSVG draws the latency histogram: requests per latency bin, bins
// spaced evenly on a log scale from the fastest to the slowest answer (a
// long tail stays visible beside the bulk), with the p50 and p99 marked.
// title is escaped.
func WriteSVG(w io.Writer, h *hdrhistogram.Histogram, title string) error {
	const (
		width, height         = 720, 360
		left, right           = 60, 20
		top, bottom           = 40, 50
		bins                  = 48
		plotW, plotH          = width - left - right, height - top - bottom
		barW          float64 = float64(plotW) / bins
	)
	lo, hi := float64(max(h.Min(), 1)), float64(max(h.Max(), 1))
	if hi <= lo {
		hi = lo * 1.01
	}
	ratio := math.Log(hi / lo)
	// x maps a latency (µs) to its bin.
	x := func(us float64) int {
		i := int(math.Log(max(us, lo)/lo) / ratio * bins)
		return min(max(i, 0), bins-1)
	}
	var counts [bins]int64
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			counts[x(float64(b.From+b.To)/2)] += b.Count
		}
	}
	var peak int64 = 1
	for _, c := range counts {
		peak = max(peak, c)
	}
	ew := &errWriter{w: w}
	ew.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	ew.printf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	ew.printf(`<text x="%d" y="22" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	for i, c := range counts {
		if c == 0 {
			continue
		}
		bh := float64(c) / float64(peak) * plotH
		ew.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4878a8"><title>%d requests</title></rect>`+"\n",
			left+float64(i)*barW, top+plotH-bh, barW-1, bh, c)
	}
	// Axes, and latency ticks at the edges and in between.
	ew.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+plotH, left+plotW, top+plotH)
	ew.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, top+plotH)
	for i := 0; i <= 4; i++ {
		us := lo * math.Exp(ratio*float64(i)/4)
		px := left + float64(plotW)*float64(i)/4
		ew.printf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px, top+plotH+18, fmtMS(us))
	}
	ew.printf(`<text x="%d" y="%d" text-anchor="middle">latency (ms, log scale)</text>`+"\n", left+plotW/2, height-8)
	ew.printf(`<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">requests</text>`+"\n", top+plotH/2, top+plotH/2)
	ew.printf(`<text x="%d" y="%d" text-anchor="end">%d</text>`+"\n", left-6, top+10, peak)
	for _, m := range []struct {
		name  string
		q     float64
		color string
	}{{"p50", 50, "#2a9d3a"}, {"p99", 99, "#c0392b"}} {
		us := float64(h.ValueAtQuantile(m.q))
		px := left + (float64(x(us))+0.5)*barW
		ew.printf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4 3"/>`+"\n", px, top, px, top+plotH, m.color)
		ew.printf(`<text x="%.1f" y="%d" fill="%s" text-anchor="middle">%s %s</text>`+"\n", px, top-4, m.color, m.name, fmtMS(us))
	}
	ew.printf("</svg>\n")
	return ew.err
}

func fmtMS(us float64) string {
	v := us / 1000
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// errWriter keeps the first write error, so the drawing reads straight.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
