// Package wstest runs a workspace server in process for tests of the kinds and commands
// that talk to one.
package wstest

import (
	"context"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Start runs a workspace server on s (on a free loopback port unless opts.Addr is set) until
// the test ends, and returns once it serves.
func Start(t testing.TB, s *store.Store, opts server.Options) server.Info {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ready := make(chan server.Info, 1)
	opts.Ready = func(in server.Info) { ready <- in }
	srv, err := server.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case in := <-ready:
		return in
	case err := <-done:
		t.Fatalf("workspace server: %v", err)
	}
	panic("unreachable")
}
