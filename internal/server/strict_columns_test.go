package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
)

// An endpoint's strict_columns reaches its handler, and changing it (or
// classic_response) on a redeploy of the same model takes effect: the
// handler is rebuilt, with the model loaded (it was left with none, 503).
func TestStrictColumnsFromRecord(t *testing.T) {
	s := newStore(t)
	classic := "string"
	put := func(strict bool) {
		err := endpoints.Put(context.Background(), s, &endpoints.Endpoint{
			Name: "bank", Model: endpoints.ModelRef{Name: "bank", Version: 1, Digest: fakemodel.New("bank", 1).Digest()}, Auth: "none",
			ClassicResponse: classic, StrictColumns: strict,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(false)
	in := start(t, s, server.Options{})
	score := func() (int, string) {
		body := `{"data": [` + strings.Replace(fakemodel.RowJSON, `{`, `{"y": 1, `, 1) + `]}`
		resp, err := http.Post(in.URL+"/endpoints/bank/score", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := score(); code != 200 {
		t.Errorf("extra column, default endpoint: %d %s", code, body)
	}
	for _, strict := range []bool{true, false, true} {
		put(strict)
		if err := server.Reload(context.Background(), s, "bank"); err != nil {
			t.Fatal(err)
		}
		code, body := score()
		if strict && (code != 400 || !strings.Contains(body, `unknown column \"y\"`)) || !strict && code != 200 {
			t.Errorf("extra column, strict_columns %v: %d %s", strict, code, body)
		}
	}
	classic = "object"
	put(false)
	if err := server.Reload(context.Background(), s, "bank"); err != nil {
		t.Fatal(err)
	}
	if code, body := score(); code != 200 || body != `{"result": ["no"]}` {
		t.Errorf("classic_response object: %d %s", code, body)
	}
}
