package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/store"
)

// endpointView is an endpoint as list and show print it: never its keys.
type endpointView struct {
	*endpoints.Endpoint
	ScoringURI string `json:"scoring_uri,omitempty"`
	SwaggerURI string `json:"swagger_uri,omitempty"`
	Server     string `json:"server,omitempty"`
}

func viewEndpoint(ctx context.Context, s *store.Store, e *endpoints.Endpoint) endpointView {
	v := endpointView{Endpoint: e}
	if in, err := server.Find(ctx, s); err == nil {
		v.ScoringURI = in.EndpointURL(e.Name) + "/score"
		v.SwaggerURI = in.EndpointURL(e.Name) + "/swagger.json"
		v.Server = in.URL
	}
	return v
}

// oneName is the command's NAME argument, checked by the store's name rule before it
// becomes a path: "../../x" must not reach another folder's keys or log.
func oneName(cmd string, args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("endpoint %s needs one endpoint NAME", cmd)
	}
	if err := endpoints.ValidName(args[0]); err != nil {
		return "", invalidf("endpoint %s: %v", cmd, err)
	}
	return args[0], nil
}

// getEndpoint turns a missing endpoint into an exit-2 error.
func getEndpoint(ctx context.Context, s *store.Store, name string) (*endpoints.Endpoint, error) {
	e, err := endpoints.Get(ctx, s, name)
	if errors.Is(err, endpoints.ErrNotFound) {
		return nil, invalidf("%v", err)
	}
	return e, err
}

func cmdEndpoint() *command {
	var tail int
	var follow bool
	var regen string
	return &command{
		name:  "endpoint",
		usage: "list | show | keys | logs | stop NAME",
		short: "inspect and manage deployed endpoints",
		sub: []*command{
			{
				name: "list", short: "list endpoints",
				run: func(ctx context.Context, c *cli, args []string) error {
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					eps, err := endpoints.List(ctx, s)
					if err != nil {
						return err
					}
					views := make([]endpointView, 0, len(eps))
					for _, e := range eps {
						views = append(views, viewEndpoint(ctx, s, e))
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(views)
					}
					if len(views) == 0 {
						fmt.Fprintln(c.stdout, "no endpoints")
						return nil
					}
					fmt.Fprintf(c.stdout, "%-20s %-8s %-5s %-28s %s\n", "NAME", "STATE", "AUTH", "MODEL", "SCORING URI")
					for _, v := range views {
						uri := v.ScoringURI
						if uri == "" {
							uri = "(server not running)"
						}
						fmt.Fprintf(c.stdout, "%-20s %-8s %-5s %-28s %s\n", clean(v.Name), clean(v.State), clean(v.Auth), clean(v.Model.Ref()), clean(uri))
					}
					return nil
				},
			},
			{
				name: "show", usage: "NAME", short: "show one endpoint",
				run: func(ctx context.Context, c *cli, args []string) error {
					name, err := oneName("show", args)
					if err != nil {
						return err
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					e, err := getEndpoint(ctx, s, name)
					if err != nil {
						return err
					}
					v := viewEndpoint(ctx, s, e)
					if c.json {
						return json.NewEncoder(c.stdout).Encode(v)
					}
					printEndpoint(c.stdout, v)
					return nil
				},
			},
			{
				name: "keys", usage: "NAME [--regenerate primary|secondary]", short: "print or rotate an endpoint's keys",
				long: `keys prints the endpoint's primary and secondary keys. --regenerate replaces
one of them; the running server uses the new key at once, without a restart.
Rotate by moving clients to the other key first.`,
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.StringVar(&regen, "regenerate", "", "replace the `primary` or secondary key")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					name, err := oneName("keys", args)
					if err != nil {
						return err
					}
					if regen != "" && regen != "primary" && regen != "secondary" {
						return usagef("endpoint keys: --regenerate %q: want primary or secondary", regen)
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					var k endpoints.Keys
					if regen != "" {
						if _, err := getEndpoint(ctx, s, name); err != nil {
							return err
						}
						if k, err = endpoints.Regenerate(s, name, regen); err != nil {
							return err
						}
						if err := server.Reload(ctx, s, name); err != nil {
							return fmt.Errorf("keys rotated, but the server did not take them: %w", err)
						}
					} else if k, err = endpoints.ReadKeys(s, name); err != nil {
						if errors.Is(err, endpoints.ErrNotFound) {
							return invalidf("%v", err)
						}
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(k)
					}
					fmt.Fprintf(c.stdout, "primary:   %s\nsecondary: %s\n", k.Primary, k.Secondary)
					return nil
				},
			},
			{
				name: "logs", usage: "NAME [--tail N] [--follow]", short: "print an endpoint's request log",
				long: `logs prints the endpoint's request log in azmlinfsrv's line format (time,
request id, method, path, status, latency, response bytes), or JSON lines
with --json. --follow keeps printing new requests until interrupted.`,
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.IntVar(&tail, "tail", 0, "print only the last `N` requests (0: all)")
					fs.BoolVar(&follow, "follow", false, "keep printing new requests")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					name, err := oneName("logs", args)
					if err != nil {
						return err
					}
					if tail < 0 {
						return usagef("endpoint logs: --tail %d: want 0 or more", tail)
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					path := endpoints.LogPath(s, name)
					if _, err := os.Stat(endpoints.Dir(s, name)); err != nil {
						if _, gerr := getEndpoint(ctx, s, name); gerr != nil {
							return gerr
						}
					}
					print := func(e reqlog.Entry) error {
						if c.json {
							_, err := c.stdout.Write(reqlog.Append(nil, &e))
							return err
						}
						// Method, path, request id and error come from clients.
						_, err := fmt.Fprintln(c.stdout, clean(reqlog.Text(&e)))
						return err
					}
					off := reqlog.Size(path)
					es, err := reqlog.Tail(path, tail)
					if err != nil {
						return err
					}
					for _, e := range es {
						if err := print(e); err != nil {
							return err
						}
					}
					if !follow {
						return nil
					}
					return reqlog.Follow(ctx, path, off, print)
				},
			},
			{
				name: "stop", usage: "NAME", short: "stop serving an endpoint (it answers 503 until redeployed)",
				run: func(ctx context.Context, c *cli, args []string) error {
					name, err := oneName("stop", args)
					if err != nil {
						return err
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					if _, err := getEndpoint(ctx, s, name); err != nil {
						// One deployed on target azureml is deleted there (azureml.go).
						if ok, aerr := c.stopAzureEndpoint(ctx, s, name); ok || aerr != nil {
							return aerr
						}
						return err
					}
					if _, err := endpoints.SetState(ctx, s, name, endpoints.Stopped); err != nil {
						return err
					}
					if err := server.Reload(ctx, s, name); err != nil {
						return err
					}
					fmt.Fprintf(c.stdout, "endpoint %s stopped\n", name)
					return nil
				},
			},
		},
	}
}

func printEndpoint(w io.Writer, v endpointView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	model := v.Model.Name
	if v.Model.Version > 0 {
		model = fmt.Sprintf("%s:%d", v.Model.Name, v.Model.Version)
	}
	rows := [][2]string{
		{"name", v.Name},
		{"state", v.State},
		{"model", model + " (" + shortDigest(v.Model.Digest) + ")"},
		{"auth", v.Auth},
		{"classic response", v.ClassicResponse},
		{"description", dash(v.Description)},
		{"scoring uri", dash(v.ScoringURI)},
		{"swagger uri", dash(v.SwaggerURI)},
		{"server", dash(v.Server)},
		{"created", v.Created.Local().Format("2006-01-02 15:04:05")},
		{"updated", v.Updated.Local().Format("2006-01-02 15:04:05")},
	}
	for _, k := range sortedKeys(v.Tags) {
		rows = append(rows, [2]string{"tag " + k, v.Tags[k]})
	}
	// Names, description and tags come from workflow files, which may come from anyone.
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", clean(r[0]), clean(r[1]))
	}
	tw.Flush()
}
