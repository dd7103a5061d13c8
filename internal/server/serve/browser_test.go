package serve_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-go/mlflow/internal/browsertest"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// TestSwaggerUIBrowser drives the embedded Swagger UI in a real headless
// Chromium under the workspace server's mount: /docs/ lands on the page,
// which lists /score, "Try it out" with the key returns a prediction, and
// the view selector switches to the MLflow and OIP operations. Screenshots
// of each view are kept with go test -artifacts.
func TestSwaggerUIBrowser(t *testing.T) {
	ctx := browsertest.Start(t, 1280, 1000)
	const prefix = "/endpoints/bankmarketing"
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", Prefix: prefix})
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	shots := t.ArtifactDir()
	screenshot := func(name string) {
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := func(p string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`.opblock-summary-path[data-path="` + p + `"]`))
	}
	const op = `#operations-default-RunMLService `
	err := chromedp.Do(tctx,
		// /docs/ under the mount redirects to the mount's /docs.
		chromedp.Navigate(srv.URL+prefix+"/docs/"),
		path("/score"),
		// Authorize with the key as Azure's clients send it.
		chromedp.Click(chromedp.CSS(`button.btn.authorize`)),
		chromedp.WaitVisible(chromedp.CSS(`.auth-container input`)),
		chromedp.SendKeys(chromedp.CSS(`.auth-container input`), "Bearer "+key1),
		chromedp.Click(chromedp.CSS(`.auth-btn-wrapper button.authorize`)),
		chromedp.Click(chromedp.CSS(`.auth-btn-wrapper button.btn-done`)),
		// Open /score, try it out with the example body, execute.
		chromedp.Click(chromedp.CSS(op+`.opblock-summary`)),
		chromedp.WaitVisible(chromedp.CSS(op+`.try-out__btn`)),
		chromedp.Click(chromedp.CSS(op+`.try-out__btn`)),
		chromedp.WaitVisible(chromedp.CSS(op+`button.execute`)),
		chromedp.Click(chromedp.CSS(op+`button.execute`)),
		chromedp.WaitVisible(chromedp.CSS(op+`.live-responses-table tr.response .response-col_status`)),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	text := func(a chromedp.Action[string]) string {
		v, err := chromedp.Run(tctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Location without the fragment Swagger UI's deep links add.
	location := func() string {
		loc, _, _ := strings.Cut(text(chromedp.Location()), "#")
		return loc
	}
	loc := location()
	status := text(chromedp.Text(chromedp.CSS(op + `.live-responses-table tr.response .response-col_status`)))
	body := text(chromedp.Text(chromedp.CSS(op + `.live-responses-table .response-col_description pre`)))
	example := text(chromedp.Value(chromedp.CSS(op + `textarea.body-param__text`)))
	if want := srv.URL + prefix + "/docs"; loc != want {
		t.Errorf("/docs/ landed on %s, want %s", loc, want)
	}
	if strings.TrimSpace(status) != "200" {
		t.Errorf("Try it out status %q, body %s", status, body)
	}
	// The example record is each input's typical value, in column order.
	if !strings.Contains(body, `"Results"`) || !strings.Contains(body, `"no"`) {
		t.Errorf("Try it out body: %s", body)
	}
	if i, j := strings.Index(example, `"age"`), strings.Index(example, `"nr.employed"`); i < 0 || j < i {
		t.Errorf("example body not in column order: %s", example)
	}
	screenshot("1-azure-score")

	// The selector switches views; each shows its protocol's operations
	// only, and the choice is kept in the page's query.
	view := func(name string) error {
		_, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById("view");
			s.value = Array.from(s.options).find(o => o.dataset.name === "`+name+`").value;
			s.dispatchEvent(new Event("change")); return true; })()`))
		return err
	}
	count := func(p string) int {
		n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('.opblock-summary-path[data-path="`+p+`"]').length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		view, shows, hides string
	}{
		{"mlflow", "/invocations", "/score"},
		{"oip", "/v2/models/{m}/infer", "/invocations"},
		{"all", "/v2/models/{m}/infer", ""},
		{"azure", "/score", "/invocations"},
	} {
		if err := view(c.view); err != nil {
			t.Fatalf("view %s: %v", c.view, err)
		}
		if err := chromedp.Do(tctx, path(c.shows)); err != nil {
			t.Fatalf("view %s: %v", c.view, err)
		}
		if c.hides != "" && count(c.hides) != 0 {
			t.Errorf("view %s lists %s", c.view, c.hides)
		}
		if c.view == "all" && (count("/score") != 1 || count("/invocations") != 1) {
			t.Errorf("view all lacks /score or /invocations")
		}
		if loc := location(); !strings.HasSuffix(loc, "?view="+c.view) {
			t.Errorf("view %s: location %s", c.view, loc)
		}
		screenshot("2-view-" + c.view)
	}
	// A linked view opens on its own.
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL+prefix+"/docs?view=oip"), path("/v2/models/{m}/infer")); err != nil {
		t.Fatalf("/docs?view=oip: %v", err)
	}
	if count("/score") != 0 {
		t.Error("/docs?view=oip lists /score")
	}
}
