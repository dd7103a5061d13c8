package loadgen

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// BenchmarkClosedLoop is whole requests on kept-alive loopback connections
// against a server that answers from memory without parsing, as cheap as a
// server gets, so that the generator's share shows: ns/op is wall time per
// request, cpu-ns/op the process's CPU (generator and that server) per
// request, the figure bench/loadgen/run.sh compares with wrk.
func BenchmarkClosedLoop(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			c := Config{Body: []byte(`{"data": [{"age": 29}]}`), Concurrency: conc, KeepAlive: true}
			t, err := newTarget(Config{URL: "http://127.0.0.1:1/score", Body: c.Body, KeepAlive: true})
			if err != nil {
				b.Fatal(err)
			}
			c.URL = rawServer(b, answerEvery(len(t.request), azureAnswer)) + "/score"
			c.Requests = max(b.N, conc)
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			res, err := Run(context.Background(), c)
			b.StopTimer()
			if err != nil || res.Failures > 0 {
				b.Fatal(err, res.Errors, res.Status)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(res.Requests), "cpu-ns/op")
		})
	}
}

// answerEvery answers every reqLen bytes it reads with answer: the
// benchmark's requests are all the same size.
func answerEvery(reqLen int, answer string) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 64<<10)
		out := []byte(answer)
		got := 0
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for got += n; got >= reqLen; got -= reqLen {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
