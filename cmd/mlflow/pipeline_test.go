package main

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	// waitrun [-status S] URL KEY polls a pipeline run's status URL (with KEY as Bearer,
	// "" for none) until its status is S (default: any final one), up to 60 s, and prints
	// the run's JSON.
	scriptCmds["waitrun"] = func(ts *testscript.TestScript, neg bool, args []string) {
		want := ""
		if len(args) == 4 && args[0] == "-status" {
			want, args = args[1], args[2:]
		}
		if neg || len(args) != 2 {
			ts.Fatalf("usage: waitrun [-status S] URL KEY")
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			req, err := http.NewRequest("GET", args[0], nil)
			ts.Check(err)
			if args[1] != "" {
				req.Header.Set("Authorization", "Bearer "+args[1])
			}
			resp, err := http.DefaultClient.Do(req)
			ts.Check(err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			ts.Check(err)
			if resp.StatusCode != 200 {
				ts.Fatalf("GET %s: %d %s", args[0], resp.StatusCode, b)
			}
			var run struct{ Status string }
			ts.Check(json.Unmarshal(b, &run))
			final := run.Status != "NotStarted" && run.Status != "Running"
			if run.Status == want || (want == "" && final) {
				ts.Stdout().Write(append(b, '\n'))
				return
			}
			if final || time.Now().After(deadline) {
				ts.Fatalf("run %s is %s, want %s: %s", args[0], run.Status, want, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
