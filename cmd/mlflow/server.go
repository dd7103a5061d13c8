package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/steps"
)

func cmdServer() *command {
	var addr, fallback, metricsAuth string
	return &command{
		name:  "server",
		usage: "[--addr 127.0.0.1:5000] [--metrics-auth none|key] | status | stop",
		short: "run the local workspace server (endpoints, pipelines)",
		long: `The workspace server serves every deployed endpoint of the workspace under
/endpoints/NAME/ (and the Open Inference Protocol at /v2/models/NAME/). It keeps
its state in the workspace database, so after a restart it serves the same
endpoints. deploy starts it in the background when it is not running.
Stop it with Ctrl-C, SIGTERM or 'mlflow server stop'.

A workspace has at most one server: with one already running, 'mlflow server'
says so and exits 0.

It listens on loopback (` + server.DefaultAddr + `) unless --addr or MLFLOW_SERVER_ADDR
says otherwise; deploy starts it there too. Any other address is reachable from
other hosts, and the server warns about it on stderr.

/metrics names every endpoint, its model digests and its traffic. With
--metrics-auth key (or MLFLOW_SERVER_METRICS_AUTH=key, which a server started by
deploy also reads) it needs "Authorization: Bearer TOKEN", TOKEN being the admin
token (server/admin.token in the workspace) or a key of any endpoint; with none
(the default) anyone who can reach the server reads it.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.StringVar(&addr, "addr", "", "listen `address` (default $MLFLOW_SERVER_ADDR, else "+server.DefaultAddr+")")
			fs.StringVar(&fallback, "fallback-addr", "", "address to use when --addr is taken (deploy uses 127.0.0.1:0)")
			fs.StringVar(&metricsAuth, "metrics-auth", "", "who may read /metrics: `none` or key (default $MLFLOW_SERVER_METRICS_AUTH, else none)")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("server: unexpected argument %q (want status or stop)", args[0])
			}
			if addr == "" {
				addr = server.Addr()
			}
			if metricsAuth == "" {
				metricsAuth = os.Getenv("MLFLOW_SERVER_METRICS_AUTH")
			}
			if metricsAuth != "" && metricsAuth != server.MetricsAuthNone && metricsAuth != server.MetricsAuthKey {
				return usagef("server: --metrics-auth (or MLFLOW_SERVER_METRICS_AUTH) %q: want none or key", metricsAuth)
			}
			s, err := c.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			// Asking for a server that runs already gets the caller what it wanted.
			if in, err := server.Find(ctx, s); err == nil {
				fmt.Fprintf(c.stdout, "a server is already running for workspace %s: pid %d on %s\n", s.Root, in.PID, in.URL)
				return nil
			}
			srv, err := server.New(s, server.Options{
				Addr: addr, FallbackAddr: fallback, Version: version, MetricsAuth: metricsAuth,
				Log: log.New(c.stderr, "", log.LstdFlags), Steps: steps.All(),
			})
			if err != nil {
				return err
			}
			err = srv.Run(ctx)
			if errors.Is(err, server.ErrServed) {
				// Another server won a race to start: it serves the workspace.
				fmt.Fprintf(c.stdout, "%v\n", err)
				return nil
			}
			return err
		},
		sub: []*command{
			{
				name:  "status",
				short: "show the running server and its endpoints",
				run: func(ctx context.Context, c *cli, args []string) error {
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					in, err := server.Find(ctx, s)
					if err != nil {
						if c.json {
							return json.NewEncoder(c.stdout).Encode(map[string]any{"running": false})
						}
						fmt.Fprintln(c.stdout, "not running")
						return nil
					}
					var st struct {
						Endpoints []server.EndpointStatus `json:"endpoints"`
					}
					if err := server.Admin(ctx, s, in, "GET", "/admin/status", &st); err != nil {
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(map[string]any{"running": true, "url": in.URL, "addr": in.Addr, "pid": in.PID, "started": in.Started, "endpoints": st.Endpoints})
					}
					fmt.Fprintf(c.stdout, "running on %s (pid %d, since %s)\n", in.URL, in.PID, in.Started.Local().Format("2006-01-02 15:04:05"))
					for _, e := range st.Endpoints {
						if e.Model == "" {
							fmt.Fprintf(c.stdout, "  %-20s %-8s %s\n", clean(e.Name), clean(e.State), clean(e.Error))
							continue
						}
						fmt.Fprintf(c.stdout, "  %-20s %-8s %s:%d\n", clean(e.Name), clean(e.State), clean(e.Model), e.Version)
						if e.Error != "" {
							fmt.Fprintf(c.stdout, "  %-20s %-8s last reload failed: %s\n", "", "", clean(e.Error))
						}
					}
					return nil
				},
			},
			{
				name:  "stop",
				short: "stop the running server",
				run: func(ctx context.Context, c *cli, args []string) error {
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					in, err := server.Stop(ctx, s)
					if errors.Is(err, server.ErrNotRunning) {
						fmt.Fprintln(c.stdout, "not running")
						return nil
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(c.stdout, "stopped server pid %d on %s\n", in.PID, in.URL)
					return nil
				},
			},
		},
	}
}
