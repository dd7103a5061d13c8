package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for the benchmark_* and bench_* scripts.
func init() {
	// loadtarget VAR starts a server for load tests and sets $VAR to its
	// base URL. /ok answers 200 with a small JSON body; /fail answers 503;
	// /slow answers after 300 ms; /auth answers 200 to "Bearer secret" and
	// 401 to anything else; /echo answers with the request's body.
	scriptCmds["loadtarget"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: loadtarget VAR")
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"Results": ["no"]}`)
		})
		mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"message": "overloaded"}`, 503)
		})
		mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(300 * time.Millisecond):
			case <-r.Context().Done():
			}
			io.WriteString(w, "late")
		})
		mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer secret" {
				http.Error(w, "no key", 401)
				return
			}
			io.WriteString(w, "ok")
		})
		mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
			io.Copy(w, r.Body)
		})
		srv := httptest.NewServer(mux)
		ts.Defer(srv.Close)
		ts.Setenv(args[0], srv.URL)
	}
}
