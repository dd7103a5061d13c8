package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mlflow-go/mlflow/internal/azure/fakeazure"
)

// fakes are the fake Azures scripts started, by script.
var fakes sync.Map // *testscript.TestScript -> *fakeazure.Server

// fakeazure plays Azure for the rest of the script:
//
//	fakeazure start [FILE=CONTENT]...
//	                            start it; the mlflow processes the script runs reach it
//	                            (AZURE_* credentials, HTTPS_PROXY, SSL_CERT_FILE) and
//	                            $AZ_SUB, $AZ_RG, $AZ_WS name its workspace; each FILE is
//	                            what a completed command job writes in its output folders
//	fakeazure fail METHOD PATH STATUS CODE MESSAGE
//	                            answer the next requests matching METHOD and PATH (a
//	                            substring) with Azure's error document
//	fakeazure requests          print the requests it got, "METHOD HOST/PATH" (ARM paths
//	                            under the workspace as W/...), one a line
//	fakeazure problems          fail if a request body failed the spec
func init() {
	scriptCmds["fakeazure"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) == 0 {
			ts.Fatalf("usage: fakeazure start | fail METHOD PATH STATUS CODE MESSAGE | requests | problems")
		}
		if args[0] == "start" {
			opts := &fakeazure.Options{CommandOutputs: map[string][]byte{}}
			for _, a := range args[1:] {
				name, content, ok := strings.Cut(a, "=")
				if !ok {
					ts.Fatalf("usage: fakeazure start [OUTPUT-FILE=CONTENT]...")
				}
				opts.CommandOutputs[name] = []byte(content)
			}
			srv, err := fakeazure.New(opts)
			if err != nil {
				ts.Fatalf("fakeazure: %v", err)
			}
			fakes.Store(ts, srv)
			ts.Defer(func() { fakes.Delete(ts); srv.Close() })
			for _, kv := range srv.Env() {
				k, v, _ := strings.Cut(kv, "=")
				ts.Setenv(k, v)
			}
			ws := srv.Workspace()
			ts.Setenv("AZ_SUB", ws.SubscriptionID)
			ts.Setenv("AZ_RG", ws.ResourceGroup)
			ts.Setenv("AZ_WS", ws.Name)
			return
		}
		v, ok := fakes.Load(ts)
		if !ok {
			ts.Fatalf("fakeazure: not started")
		}
		srv := v.(*fakeazure.Server)
		switch args[0] {
		case "fail":
			var status int
			if len(args) != 6 || func() error { _, err := fmt.Sscan(args[3], &status); return err }() != nil {
				ts.Fatalf("usage: fakeazure fail METHOD PATH STATUS CODE MESSAGE")
			}
			srv.Fail(fakeazure.Failure{Method: args[1], Path: args[2], Status: status, Code: args[4], Message: args[5], Times: 100})
		case "requests":
			ws := strings.ToLower(srv.Workspace().ID())
			for _, r := range srv.Requests() {
				p := r.Host + r.Path
				if i := strings.Index(strings.ToLower(r.Path), ws); i >= 0 {
					p = "W" + r.Path[i+len(ws):]
				}
				fmt.Fprintf(ts.Stdout(), "%s %s\n", r.Method, p)
			}
		case "problems":
			if p := srv.Problems(); len(p) > 0 != neg {
				ts.Fatalf("fakeazure problems:\n%s", strings.Join(p, "\n"))
			}
		default:
			ts.Fatalf("fakeazure: unknown subcommand %q", args[0])
		}
	}
}
