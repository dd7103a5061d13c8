package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for the serving scripts (serve_*, server_*, deploy_*,
// endpoint_*, consume_*, logs_*).
func init() {
	// http [-H 'Name: value']... [-d BODY | -d @FILE] [-code N] METHOD URL
	// prints the answer's body; fails unless the status is N (default 200).
	scriptCmds["http"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg {
			ts.Fatalf("http does not support !; use -code")
		}
		var hdr [][2]string
		var body io.Reader
		code := 200
		for len(args) > 2 {
			switch args[0] {
			case "-H":
				k, v, _ := strings.Cut(args[1], ":")
				hdr = append(hdr, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			case "-d":
				if f, ok := strings.CutPrefix(args[1], "@"); ok {
					b, err := os.ReadFile(ts.MkAbs(f))
					ts.Check(err)
					body = strings.NewReader(string(b))
				} else {
					body = strings.NewReader(args[1])
				}
			case "-code":
				n, err := strconv.Atoi(args[1])
				ts.Check(err)
				code = n
			default:
				ts.Fatalf("http: unknown option %s", args[0])
			}
			args = args[2:]
		}
		if len(args) != 2 {
			ts.Fatalf("usage: http [-H h] [-d body] [-code N] METHOD URL")
		}
		req, err := http.NewRequest(args[0], args[1], body)
		ts.Check(err)
		for _, h := range hdr {
			req.Header.Set(h[0], h[1])
		}
		c := &http.Client{Timeout: 20 * time.Second}
		resp, err := c.Do(req)
		ts.Check(err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "%s", b)
		for _, k := range []string{"WWW-Authenticate", "X-Ms-Run-Function-Failed", "Access-Control-Allow-Origin"} {
			if v := resp.Header.Get(k); v != "" {
				fmt.Fprintf(ts.Stderr(), "%s: %s\n", k, v)
			}
		}
		if resp.StatusCode != code {
			ts.Fatalf("%s %s: status %d, want %d: %s", args[0], args[1], resp.StatusCode, code, b)
		}
	}
	// freeport VAR sets $VAR to a free loopback port.
	scriptCmds["freeport"] = func(ts *testscript.TestScript, neg bool, args []string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		ln.Close()
	}
	// waithttp URL waits (up to 20s) until URL answers at all.
	scriptCmds["waithttp"] = func(ts *testscript.TestScript, neg bool, args []string) {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := http.Get(args[0])
			if err == nil {
				resp.Body.Close()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		ts.Fatalf("%s did not answer in 20s", args[0])
	}
	// jsonget FILE PATH VAR sets $VAR to the string or number at the
	// dotted PATH of the JSON in FILE (stdout for the last command's).
	scriptCmds["jsonget"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: jsonget FILE PATH VAR")
		}
		var raw string
		if args[0] == "stdout" {
			raw = ts.ReadFile("stdout")
		} else {
			raw = ts.ReadFile(args[0])
		}
		// The last JSON line wins: run --json prints events first.
		var v any
		sc := bufio.NewScanner(strings.NewReader(raw))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var x any
			if json.Unmarshal(sc.Bytes(), &x) == nil {
				v = x
			}
		}
		if v == nil {
			ts.Check(json.Unmarshal([]byte(raw), &v))
		}
		for _, k := range strings.Split(args[1], ".") {
			m, ok := v.(map[string]any)
			if !ok {
				ts.Fatalf("jsonget: %s: not an object at %q", args[1], k)
			}
			v = m[k]
		}
		switch x := v.(type) {
		case string:
			ts.Setenv(args[2], x)
		case nil:
			ts.Fatalf("jsonget: %s: missing", args[1])
		default:
			b, _ := json.Marshal(x)
			ts.Setenv(args[2], string(b))
		}
	}
	// csvhead SRC N DST copies the header and first N records of SRC.
	scriptCmds["csvhead"] = func(ts *testscript.TestScript, neg bool, args []string) {
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		lines := strings.SplitAfter(ts.ReadFile(args[0]), "\n")
		if len(lines) > n+1 {
			lines = lines[:n+1]
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(strings.Join(lines, "")), 0o644))
	}
	// mkbig FILE BYTES writes a JSON body of BYTES bytes (mostly spaces).
	scriptCmds["mkbig"] = func(ts *testscript.TestScript, neg bool, args []string) {
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		b := []byte(`{"data": [` + strings.Repeat(" ", max(n-12, 0)) + `]}`)
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
	}
	// killserver-at-end WORKSPACE stops the workspace server that deploy
	// started in the background when the script ends, pass or fail.
	scriptCmds["killserver-at-end"] = func(ts *testscript.TestScript, neg bool, args []string) {
		ws := ts.MkAbs(args[0])
		ts.Defer(func() {
			b, err := os.ReadFile(ws + "/server/server.json")
			if err != nil {
				return
			}
			var in struct{ PID int }
			if json.Unmarshal(b, &in) == nil && in.PID > 0 {
				syscall.Kill(in.PID, syscall.SIGTERM)
			}
		})
	}
}
