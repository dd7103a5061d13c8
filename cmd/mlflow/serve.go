package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/mlflow-go/mlflow/internal/server"
	"net"
	"os"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

func cmdServe() *command {
	var modelRef, addr, auth, name, classic string
	var noLog bool
	return &command{
		name:  "serve",
		usage: "--model NAME[:VERSION]|FILE [--addr 127.0.0.1:8080] [--auth key|none]",
		short: "serve one model in the foreground",
		long: `serve answers Azure ML's /score, MLflow's /invocations and the Open Inference
Protocol for one model at the root of --addr, with /swagger.json, /openapi.json,
/docs, /metrics and probes. With --auth key (the default) requests need
'Authorization: Bearer KEY'; the keys are those of 'mlflow endpoint keys NAME'
(NAME is --name, default the model's name) and are made on first use.
Stop it with Ctrl-C or SIGTERM.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.StringVar(&modelRef, "model", "", "model `ref`: NAME, NAME:VERSION or a model file")
			fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen `address`")
			fs.StringVar(&auth, "auth", "key", "key or none")
			fs.StringVar(&name, "name", "", "endpoint `name` for keys, logs and metrics (default the model's name)")
			fs.StringVar(&classic, "classic-response", serve.ClassicString, "how /score answers {\"data\"}: string (as Azure) or object")
			fs.BoolVar(&noLog, "no-request-log", false, "do not write the request log")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("serve: unexpected argument %q", args[0])
			}
			if modelRef == "" {
				return usagef("serve: --model is required (NAME, NAME:VERSION or a model file)")
			}
			if auth != "key" && auth != "none" {
				return usagef("serve: --auth %q: want key or none", auth)
			}
			if classic != serve.ClassicString && classic != serve.ClassicObject {
				return usagef("serve: --classic-response %q: want string or object", classic)
			}
			s, err := c.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			m, ins, _, err := server.LoadModel(ctx, s, modelRef)
			if err != nil {
				return invalidf("serve: %v", err)
			}
			if name == "" {
				name = m.Name()
			}
			if err := endpoints.ValidName(name); err != nil {
				return invalidf("serve: %v (set --name)", err)
			}
			// The log's lost lines are counted in the metrics this handler serves.
			met := serve.NewMetrics()
			var lw *reqlog.Writer
			if !noLog {
				if err := os.MkdirAll(endpoints.Dir(s, name), 0o755); err != nil {
					return err
				}
				if lw, err = reqlog.Open(endpoints.LogPath(s, name), 0, 0, met.LogDropped); err != nil {
					return err
				}
				defer lw.Close()
			}
			h := serve.New(serve.Options{Endpoint: name, ClassicResponse: classic, Log: lw, Version: version, Metrics: met})
			if err := h.Swap(m, ins); err != nil {
				return invalidf("serve: %v", err)
			}
			if auth == "key" {
				k, err := endpoints.EnsureKeys(s, name)
				if err != nil {
					return err
				}
				h.SetKeys(k.Primary, k.Secondary)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			hs := server.NewHTTPServer(h)
			return server.Serve(ctx, hs, ln, func() {
				fmt.Fprintf(c.stderr, "serving %s:%d on http://%s (auth %s; keys: mlflow endpoint keys %s)\n", m.Name(), m.Version(), ln.Addr(), auth, name)
			})
		},
	}
}
