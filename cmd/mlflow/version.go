package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release; set with -ldflags "-X main.version=v1.2.3".
var version = "v0.1.0-dev"

func cmdVersion() *command {
	return &command{
		name:  "version",
		short: "print the mlflow version",
		run: func(ctx context.Context, c *cli, args []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						rev = s.Value[:12]
					}
				}
			}
			if c.json {
				return json.NewEncoder(c.stdout).Encode(map[string]string{"version": version, "revision": rev, "go": runtime.Version()})
			}
			fmt.Fprintf(c.stdout, "mlflow %s", version)
			if rev != "" {
				fmt.Fprintf(c.stdout, " (%s)", rev)
			}
			fmt.Fprintf(c.stdout, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
