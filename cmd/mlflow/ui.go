package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/studio"
)

func cmdUI() *command {
	var noBrowser bool
	return &command{
		name:  "ui",
		usage: "[--no-browser] [--json]",
		short: "open the workspace's web UI (runs, datasets, models, endpoints, pipelines)",
		long: `Studio is the workspace's web UI, served by the workspace server under /ui/.
'mlflow ui' starts the server when it is not running (as deploy does), prints the
UI's address with a login token and opens it in a browser where one can be opened.

The token (server/ui.token in the workspace, readable only by you) logs the
browser in: the page sets a session cookie and drops the token from the address.
Anyone with the address can see the workspace, so do not share it. Without a
session the UI shows nothing.

--json prints {"url": "..."} and opens no browser.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.BoolVar(&noBrowser, "no-browser", false, "print the address, do not open a browser")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usagef("ui takes no arguments (got %q)", args[0])
			}
			s, err := c.openStore(false)
			if err != nil {
				return err
			}
			defer s.Close()
			in, err := server.Ensure(ctx, s)
			if err != nil {
				return err
			}
			tok, err := studio.Token(s)
			if err != nil {
				return err
			}
			if err := checkUI(ctx, in.URL); err != nil {
				return err
			}
			u := in.URL + "/ui/?" + url.Values{"token": {tok}}.Encode()
			if c.json {
				return json.NewEncoder(c.stdout).Encode(map[string]string{"url": u})
			}
			fmt.Fprintf(c.stdout, "mlflow studio: %s\n", u)
			if !noBrowser {
				if err := openBrowser(u); err != nil {
					fmt.Fprintf(c.stderr, "could not open a browser (%v): open the address above\n", err)
				}
			}
			return nil
		},
	}
}

// checkUI makes sure the running server serves the UI: a server started by an older
// mlflow answers 404 under /ui/, and its address would lead nowhere.
func checkUI(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/ui/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the workspace server at %s does not answer: %w", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("the workspace server at %s has no web UI (GET /ui/ answered %d): it is an older mlflow; restart it with mlflow server stop, then mlflow ui", base, resp.StatusCode)
	}
	return nil
}

// openBrowser opens u where a browser can be opened: a desktop session on Linux, macOS,
// Windows. Elsewhere (ssh, CI) the printed address is what the user has.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return fmt.Errorf("no display")
		}
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
