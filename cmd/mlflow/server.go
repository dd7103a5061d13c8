package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"

	"github.com/mlflow-go/mlflow/internal/server"
)

func cmdServer() *command {
	var addr, fallback string
	return &command{
		name:  "server",
		usage: "[--addr 127.0.0.1:5000] | status | stop",
		short: "run the local workspace server (endpoints, pipelines)",
		long: `The workspace server serves every deployed endpoint of the workspace under
/endpoints/NAME/ (and the Open Inference Protocol at /v2/models/NAME/). It keeps
its state in the workspace database, so after a restart it serves the same
endpoints. deploy starts it in the background when it is not running.
Stop it with Ctrl-C, SIGTERM or 'mlflow server stop'.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.StringVar(&addr, "addr", server.DefaultAddr, "listen `address` (loopback by default)")
			fs.StringVar(&fallback, "fallback-addr", "", "address to use when --addr is taken (deploy uses 127.0.0.1:0)")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("server: unexpected argument %q (want status or stop)", args[0])
			}
			s, err := c.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			if in, err := server.Find(ctx, s); err == nil {
				return invalidf("a server is already running for workspace %s: pid %d on %s (mlflow server stop)", s.Root, in.PID, in.URL)
			}
			srv, err := server.New(s, server.Options{
				Addr: addr, FallbackAddr: fallback, Version: version,
				Log: log.New(c.stderr, "", log.LstdFlags),
			})
			if err != nil {
				return err
			}
			return srv.Run(ctx)
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
						fmt.Fprintf(c.stdout, "  %-20s %-8s %s:%d\n", e.Name, e.State, e.Model, e.Version)
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
