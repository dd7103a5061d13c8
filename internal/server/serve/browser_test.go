package serve_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// chromium is Debian's browser; CI installs it (apt-get install chromium).
const chromium = "/usr/bin/chromium"

// TestSwaggerUIBrowser drives the embedded Swagger UI in a real headless
// Chromium: the page loads from the binary, lists /score, and "Try it
// out" with the key returns a prediction.
func TestSwaggerUIBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("browser test skipped: %s is not installed (apt-get install -y chromium)", chromium)
	}
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	srv := httptest.NewServer(h)
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first action starts the browser; its context must not time out,
	// or the browser dies with it (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	const op = `#operations-default-RunMLService `
	err := chromedp.Do(tctx,
		chromedp.Navigate(srv.URL+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(`.opblock-summary-path[data-path="/score"]`)),
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
	path, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`.opblock-summary-path[data-path="/score"]`)))
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(op+`.live-responses-table tr.response .response-col_status`)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(op+`.live-responses-table .response-col_description pre`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(path, "/score") {
		t.Errorf("operation path %q", path)
	}
	if strings.TrimSpace(status) != "200" {
		t.Errorf("Try it out status %q, body %s", status, body)
	}
	// The example rows are a "no" and a "yes" customer.
	if !strings.Contains(body, `"Results"`) || !strings.Contains(body, `"no"`) || !strings.Contains(body, `"yes"`) {
		t.Errorf("Try it out body: %s", body)
	}
}
