package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// NewHTTPServer is the http.Server every mlflow server runs: a slow or
// stuck client cannot hold a connection or a large header forever.
func NewHTTPServer(h http.Handler) *http.Server {
	tuneGC()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Serve serves hs on ln until ctx ends, then shuts down gracefully,
// giving in-flight requests up to 10 s. started, if set, runs once the
// server is accepting. A clean stop returns nil.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener, started func()) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if started != nil {
		started()
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

var gcOnce sync.Once

// tuneGC raises the collector's target for a serving process unless GOGC is set. Its live heap
// is a few MB (the model), so at the default 100 it collected every few thousand requests
// and spent about 4.5 % of a loaded endpoint's CPU marking; at 400 the heap stays in the tens
// of MB and the collector runs a quarter as often.
func tuneGC() {
	gcOnce.Do(func() {
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(400)
		}
	})
}
