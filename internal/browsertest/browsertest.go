// Package browsertest starts the headless Chromium that the project's browser tests
// (the Swagger UI, Studio) drive through chromedp, with the flags this kind of machine
// needs: no sandbox as root, and no background networking, whose connections a closed
// network refuses many at a time.
package browsertest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium is Debian's browser; CI installs it (apt-get install chromium).
const Chromium = "/usr/bin/chromium"

// Start starts a browser with a window of width × height and returns its context; the
// browser ends with the test. The test is skipped in -short mode and where Chromium is
// not installed.
func Start(t *testing.T, width, height int) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(Chromium); err != nil {
		t.Skipf("browser test skipped: %s is not installed (apt-get install -y chromium)", Chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first action starts the browser; its context must not time out, or the browser
	// dies with it (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", Chromium, err)
	}
	return ctx
}
