package server_test

import (
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server"
)

// TestOIPServerMetadataSlash: at the workspace server's root, as at an
// endpoint, the OIP spec's literal server metadata path /v2/ answers like
// /v2.
func TestOIPServerMetadataSlash(t *testing.T) {
	in := start(t, newStore(t), server.Options{})
	for _, p := range []string{"/v2", "/v2/"} {
		if code, body := get(t, in.URL+p, ""); code != 200 || !strings.Contains(body, `"extensions":[]`) {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
}
