package studio_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/browsertest"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// browser is a headless Chromium whose console is watched: every page must load without
// an error in it.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T) *browser {
	ctx := browsertest.Start(t, 1280, 900)
	b := &browser{t: t, ctx: ctx, dir: t.ArtifactDir()}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// open loads a UI page, waits for its script to finish, and fails on any console error or
// a page that reports one.
func (b *browser) open(u string) {
	b.t.Helper()
	b.mu.Lock()
	b.msgs = nil
	b.mu.Unlock()
	b.do(chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS(`body[data-loaded]`)))
	if state := eval[string](b, `document.body.dataset.loaded`); state != "true" {
		b.t.Errorf("%s: the page failed: %s", u, eval[string](b, `document.getElementById("content").innerText`))
	}
	// Charts are drawn on the next frame.
	b.do(chromedp.Sleep(300 * time.Millisecond))
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			b.t.Errorf("%s: console: %s", u, m)
		}
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, `(document.querySelector(`+jsString(sel)+`) || {innerText: ""}).innerText`)
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return eval[int](b, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestBrowser drives every page of the UI in a real headless Chromium over a workspace
// that ran a bank marketing workflow (dataset, AutoML, deploy, consume): each page loads
// without a console error and shows the right data, the test form scores a record, the
// key appears only after "reveal", a live run's step changes colour without a reload, and
// without the token nothing of the workspace is shown. Screenshots of every page are kept
// with go test -artifacts.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	w := newWorkspace(t)
	bankRows(t, filepath.Join(w.dir, "bank.csv"), 600)
	w.write(t, "wf.cue", bankWorkflow)
	w.write(t, "one.json", oneRecord)
	ctx := context.Background()
	w.run(t, ctx, "wf.cue", "bank-run")
	model, err := models.Get(ctx, w.s, "bank", 1)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := endpoints.ReadKeys(w.s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	chartModels(t, w.s, model)
	houseModel(t, w.s)
	// A second version of the dataset, 200 rows longer, to compare with the first.
	bankRows(t, filepath.Join(w.dir, "bank800.csv"), 800)
	csv, err := os.Open(filepath.Join(w.dir, "bank800.csv"))
	if err != nil {
		t.Fatal(err)
	}
	f800, err := tabular.ReadCSV(ctx, csv, tabular.ReadOptions{Name: "bank800.csv", Target: "y"})
	csv.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := datasets.Register(ctx, w.s, f800, datasets.Registration{Name: "bank", Source: "bank800.csv"}); err != nil {
		t.Fatal(err)
	}
	ui := w.url + "/ui"

	// Log in: the token leaves the address.
	b.open(ui + "/?" + url.Values{"token": {w.token}}.Encode())
	if loc := eval[string](b, `location.href`); strings.Contains(loc, "token") {
		t.Errorf("the token stays in the address: %s", loc)
	}
	if got := b.text("table.runs"); !strings.Contains(got, "bank-run") || !strings.Contains(got, "succeeded") {
		t.Errorf("overview's runs: %q", got)
	}
	if got := b.text("#content"); !strings.Contains(got, "bank") {
		t.Errorf("overview: %q", got)
	}
	b.screenshot("01-overview")

	b.open(ui + "/runs")
	if got := b.text("table.runs tbody"); !strings.Contains(got, "bank-run") || !strings.Contains(got, "bank-studio") {
		t.Errorf("runs: %q", got)
	}
	b.screenshot("02-runs")

	b.open(ui + "/runs/bank-run")
	for _, step := range []string{"data", "train", "deploy", "consume"} {
		if b.count(`.dag .node.state-succeeded[data-step="`+step+`"]`) != 1 {
			t.Errorf("run page: no succeeded node for step %s", step)
		}
	}
	if n := b.count(`.dag .edge`); n != 3 {
		t.Errorf("run page: %d edges, want 3 (data->train->deploy->consume)", n)
	}
	if n := b.count(`.timeline .bar.state-succeeded`); n != 4 {
		t.Errorf("timeline: %d bars, want 4", n)
	}
	b.do(chromedp.Click(chromedp.CSS(`.dag .node[data-step="train"]`)),
		chromedp.WaitReady(chromedp.CSS(`#step-detail pre.log`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#step-detail pre.log").innerText !== "…"`))
	if got := b.text("#step-detail"); !strings.Contains(got, "Outputs") || !strings.Contains(got, `"model"`) {
		t.Errorf("train step's detail: %q", got)
	}
	b.screenshot("03-run")

	b.open(ui + "/datasets")
	if got := b.text("table.datasets tbody"); !strings.Contains(got, "bank") || !strings.Contains(got, "600") {
		t.Errorf("datasets: %q", got)
	}
	// The description is untrusted text: shown as text, never run as HTML.
	if got := b.text("table.datasets tbody"); !strings.Contains(got, "<img src=x onerror=alert(1)> bank sample") {
		t.Errorf("datasets: the description is not shown as text: %q", got)
	}
	if n := b.count(`img[src="x"]`); n != 0 {
		t.Errorf("datasets: the description became an <img>")
	}
	b.screenshot("04-datasets")

	b.open(ui + "/datasets/bank/1")
	if n := eval[int](b, `[...document.querySelectorAll("canvas")].filter(c => Chart.getChart(c)).length`); n < 20 {
		t.Errorf("dataset page: %d charts drawn, want one per column and more", n)
	}
	if got := b.text(`.card[data-column="age"]`); !strings.Contains(got, "numeric") {
		t.Errorf("dataset page, column age: %q", got)
	}
	b.screenshot("05-dataset")

	// Versions side by side.
	b.do(chromedp.Click(chromedp.CSS(`a[href^="/ui/datasets/bank?"]`)), chromedp.WaitReady(chromedp.CSS(`body[data-loaded]`)))
	if got := b.text("#content .kv"); !strings.Contains(got, "600 → 800 (+200)") {
		t.Errorf("dataset comparison's rows: %q", got)
	}
	if got := b.text(`table.compare tr[data-column="age"]`); !strings.Contains(got, "mean") || !strings.Contains(got, "missing 0 (0.0%)") {
		t.Errorf("dataset comparison, column age: %q", got)
	}
	if n := b.count("table.compare tbody tr"); n != 21 {
		t.Errorf("dataset comparison: %d columns, want 21", n)
	}
	b.screenshot("05b-dataset-versions")

	b.open(ui + "/models")
	if got := b.text("table.models tbody"); !strings.Contains(got, "bank") || !strings.Contains(got, "classification") {
		t.Errorf("models: %q", got)
	}
	b.screenshot("06-models")

	b.open(ui + "/models/bank/1")
	if n := b.count("table.leaderboard tbody tr"); n != len(model.Meta.Leaderboard) || n == 0 {
		t.Errorf("leaderboard: %d rows, want %d", n, len(model.Meta.Leaderboard))
	}
	if n := eval[int](b, `[...document.querySelectorAll("canvas")].filter(c => Chart.getChart(c)).length`); n < 2 {
		t.Errorf("model page: %d charts drawn, want the score over time and the feature importance", n)
	}
	if got := b.text("#content"); !strings.Contains(got, "bank:1") || !strings.Contains(got, "bank-run") {
		t.Errorf("model page lacks its lineage (dataset bank:1, run bank-run): %q", got)
	}
	b.screenshot("07-model")

	// Azure AutoML's model charts: drawn from the diagnostics kept in the artifact.
	drawn := func(card string) int {
		return eval[int](b, `[...document.querySelectorAll('[data-chart="`+card+`"] canvas')].filter(c => Chart.getChart(c)).length`)
	}
	b.open(ui + "/models/bank/1")
	for _, card := range []string{"roc", "pr", "calibration"} {
		if drawn(card) != 1 {
			t.Errorf("classification model page: no %s chart", card)
		}
	}
	if got := eval[string](b, `Chart.getChart(document.querySelector('[data-chart="roc"] canvas')).data.datasets[0].label`); !strings.HasPrefix(got, "yes (AUC 0.") {
		t.Errorf("ROC curve labelled %q, want the positive class and its AUC", got)
	}
	if n := b.count("table.confusion tbody td"); n != 4 {
		t.Errorf("confusion matrix: %d cells, want 2×2", n)
	}
	if got := strings.ToLower(b.text("table.confusion")); !strings.Contains(got, "no") || !strings.Contains(got, "yes") {
		t.Errorf("confusion matrix: %q", got)
	}
	b.screenshot("07b-model-classification")
	irisModel(t, w.s)
	b.open(ui + "/models/iris/1")
	if n := eval[int](b, `Chart.getChart(document.querySelector('[data-chart="roc"] canvas')).data.datasets.length`); n != 4 {
		t.Errorf("three-class ROC: %d lines, want one per class and the chance line", n)
	}
	if n := b.count("table.confusion tbody td"); n != 9 {
		t.Errorf("three-class confusion matrix: %d cells, want 3×3", n)
	}
	b.screenshot("07d-model-multiclass")
	b.open(ui + "/models/house/1")
	for _, card := range []string{"predicted", "residuals"} {
		if drawn(card) != 1 {
			t.Errorf("regression model page: no %s chart", card)
		}
	}
	if n := eval[int](b, `Chart.getChart(document.querySelector('[data-chart="predicted"] canvas')).data.datasets[0].data.length`); n != 1000 {
		t.Errorf("predicted vs actual: %d points, want the 1000 kept", n)
	}
	b.screenshot("07c-model-regression")
	b.open(ui + "/models/bank-old/1")
	if got := b.text("#no-diagnostics"); !strings.Contains(got, "trained before") {
		t.Errorf("a model without charts: %q", got)
	}
	if got := b.text("table.leaderboard"); got == "" {
		t.Error("a model without charts: the rest of its page is missing")
	}

	b.open(ui + "/endpoints")
	if got := b.text("table.endpoints tbody"); !strings.Contains(got, "bank") || !strings.Contains(got, "running") {
		t.Errorf("endpoints: %q", got)
	}
	b.screenshot("08-endpoints")

	b.open(ui + "/endpoints/bank")
	if got := b.text("#scoring-uri"); got != w.url+"/endpoints/bank/score" {
		t.Errorf("scoring URI %q, want %s", got, w.url+"/endpoints/bank/score")
	}
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, keys.Primary) {
		t.Error("the endpoint's key is in the page before reveal")
	}
	b.do(chromedp.Click(chromedp.CSS(`#reveal`)), chromedp.Poll[chromedp.Void](`document.getElementById("key").innerText !== "hidden"`))
	if got := b.text("#key"); got != keys.Primary {
		t.Errorf("revealed key %q, want the endpoint's primary key", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`#score-form button[type=submit]`)),
		chromedp.Poll[chromedp.Void](`!["", "…"].includes(document.getElementById("score-answer").innerText)`))
	if got := b.text("#score-answer"); !strings.HasPrefix(got, "200") || !strings.Contains(got, "result") {
		t.Errorf("the test form's answer: %q", got)
	}
	b.do(chromedp.Navigate(ui+"/endpoints/bank"), chromedp.WaitReady(chromedp.CSS(`body[data-loaded]`)), chromedp.Sleep(300*time.Millisecond))
	if got := b.text("table.reqlog tbody"); !strings.Contains(got, "/endpoints/bank/score") {
		t.Errorf("request log tail: %q", got)
	}
	b.screenshot("09-endpoint")

	// Rotating the primary key: the reveal shows the new one, which the server already uses
	// (the form scores through it); stopping: the endpoint answers 503.
	b.do(chromedp.Click(chromedp.CSS(`#regenerate-primary`)), chromedp.Poll[chromedp.Void](`document.getElementById("key").innerText.includes("regenerated")`),
		chromedp.Click(chromedp.CSS(`#reveal`)), chromedp.Poll[chromedp.Void](`/^[0-9a-zA-Z_-]{20,}$/.test(document.getElementById("key").innerText)`))
	rotated, err := endpoints.ReadKeys(w.s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.text("#key"); got != rotated.Primary || got == keys.Primary {
		t.Errorf("after Regenerate primary, reveal shows %q: want the new key (old %q, new %q)", got, keys.Primary, rotated.Primary)
	}
	b.do(chromedp.Click(chromedp.CSS(`#score-form button[type=submit]`)),
		chromedp.Poll[chromedp.Void](`!["", "…"].includes(document.getElementById("score-answer").innerText)`))
	if got := b.text("#score-answer"); !strings.HasPrefix(got, "200") {
		t.Errorf("scoring with the rotated key: %q", got)
	}
	eval[bool](b, `(window.confirm = () => true, true)`)
	b.do(chromedp.Click(chromedp.CSS(`#stop`)), chromedp.WaitReady(chromedp.CSS(`body[data-loaded] .badge.state-stopped`)))
	b.do(chromedp.Click(chromedp.CSS(`#score-form button[type=submit]`)),
		chromedp.Poll[chromedp.Void](`!["", "…"].includes(document.getElementById("score-answer").innerText)`))
	if got := b.text("#score-answer"); !strings.HasPrefix(got, "503") {
		t.Errorf("scoring a stopped endpoint: %q, want 503", got)
	}

	b.open(ui + "/pipelines")
	if got := b.text("#content"); !strings.Contains(got, "No pipelines yet") {
		t.Errorf("pipelines: %q", got)
	}

	// A published pipeline: typed trigger form, a run from it, disable refuses the next.
	w.write(t, "pub.cue", pubWorkflow)
	w.run(t, ctx, "pub.cue", "pub-run")
	b.open(ui + "/pipelines")
	if got := b.text("table.pipelines tbody"); !strings.Contains(got, "greeter") {
		t.Errorf("pipelines: %q", got)
	}
	b.open(ui + "/pipelines/greeter")
	if v := eval[string](b, `document.querySelector('#trigger-form input[name="who"]').value`); v != "world" {
		t.Errorf("trigger form: who = %q, want the default world", v)
	}
	if eval[string](b, `document.querySelector('#trigger-form input[name="loud"]').type`) != "checkbox" {
		t.Error("trigger form: the boolean parameter is not a checkbox")
	}
	if got := b.text("#pipeline-info"); !strings.Contains(got, "Says <b>hello</b>") {
		t.Errorf("pipeline description not shown as text: %q", got)
	}
	b.do(chromedp.SetValue(chromedp.CSS(`#trigger-form input[name="who"]`), "studio"),
		chromedp.Click(chromedp.CSS(`#trigger-form button[type=submit]`)),
		chromedp.Poll[chromedp.Void](`!["", "…"].includes(document.getElementById("trigger-answer").innerText)`))
	if got := b.text("#trigger-answer"); !strings.HasPrefix(got, "202") || !strings.Contains(got, "run_id") {
		t.Errorf("trigger from the form: %q", got)
	}
	if n := b.count("#pipeline-runs tbody tr"); n != 1 {
		t.Errorf("pipeline runs after a trigger: %d rows, want 1", n)
	}
	b.screenshot("10-pipeline")
	b.do(chromedp.Click(chromedp.CSS(`#toggle`)), chromedp.Poll[chromedp.Void](`document.getElementById("toggle").innerText === "Enable"`))
	if got := b.text("#pipeline-info"); !strings.Contains(got, "disabled") {
		t.Errorf("after Disable: %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`#trigger-form button[type=submit]`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("trigger-answer").innerText.startsWith("409")`))

	// A live run: its page shows the second step pending, then succeeded, with no reload.
	w.write(t, "live.cue", liveWorkflow)
	done := make(chan *engine.RunRecord, 1)
	go func() { done <- w.run(t, ctx, "live.cue", "live-run") }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := engine.GetRun(ctx, w.s, "live-run"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the live run was not recorded in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.open(ui + "/runs/live-run")
	eval[bool](b, `window.notReloaded = true`)
	// The engine records the started step within a tenth of a second: it turns running.
	b.do(chromedp.WaitReady(chromedp.CSS(`.dag .node.state-running[data-step="slow"]`)))
	if b.count(`.dag .node.state-pending[data-step="after"]`) != 1 {
		t.Errorf("live run: while slow runs, want after pending: %q", b.text(".dag"))
	}
	// Its log, live: it grows on the page while the step runs.
	b.do(chromedp.Click(chromedp.CSS(`.dag .node[data-step="slow"]`)),
		chromedp.Poll[chromedp.Void](`(document.getElementById("step-log") || {}).innerText?.includes("tick 1")`))
	if got := b.text("#step-detail h3:last-of-type"); got != "Log (live)" {
		t.Errorf("the running step's log is titled %q, want Log (live)", got)
	}
	first := b.text("#step-log")
	if strings.Contains(first, "tick 6") {
		t.Errorf("the step's log was complete when first shown (%q): it did not grow on the page", first)
	}
	b.screenshot("11-live-before")
	b.do(chromedp.Poll[chromedp.Void](`document.getElementById("step-log").innerText.includes("tick 4")`))
	// The table's elapsed time moves with the clock between records, as the timeline's does:
	// both redrawn in the same second, they agree.
	b.do(chromedp.Sleep(1200 * time.Millisecond))
	if diff := eval[float64](b, `(() => {
		const secs = (t) => { const m = /([\d.]+) (ms|s)\b/.exec(t); return m ? (m[2] === "ms" ? m[1] / 1000 : +m[1]) : NaN; };
		const row = [...document.querySelectorAll("#steps tr")].find(tr => tr.innerText.startsWith("slow"));
		const bar = [...document.querySelectorAll(".tl-dur")][0];
		return Math.abs(secs(row.innerText.split("\t")[5]) - secs(bar.innerText));
	})()`); !(diff <= 1.1) {
		t.Errorf("the running step's duration in the table is %.1f s away from the timeline's", diff)
	}
	b.screenshot("11b-live-log")
	b.do(chromedp.WaitReady(chromedp.CSS(`.dag .node.state-succeeded[data-step="after"]`)))
	if !eval[bool](b, `window.notReloaded === true`) {
		t.Error("the live run's page reloaded")
	}
	if got := b.text("#run-header"); !strings.Contains(got, "succeeded") {
		t.Errorf("live run's header after the end: %q", got)
	}
	// The finished step's detail shows the stored log, whole.
	b.do(chromedp.Poll[chromedp.Void](`document.getElementById("step-log").innerText.includes("slow done")`))
	if got := b.text("#step-log"); strings.Count(got, "tick ") != 6 || strings.Contains(got, "cut") {
		t.Errorf("the finished step's log: %q", got)
	}
	b.screenshot("12-live-after")
	<-done

	// Without the session cookie nothing of the workspace is shown.
	nctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	tctx, tcancel := context.WithTimeout(nctx, 30*time.Second)
	defer tcancel()
	for _, p := range []string{"/", "/runs/bank-run", "/models/bank/1", "/datasets/bank", "/endpoints/bank"} {
		if err := chromedp.Do(tctx, chromedp.Navigate(ui+p)); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "no session") {
			t.Errorf("%s without a session: %q", p, text)
		}
		for _, leak := range []string{"bank-studio", "train", "VotingEnsemble", "scoring", keys.Primary} {
			if strings.Contains(text, leak) {
				t.Errorf("%s without a session shows %q", p, leak)
			}
		}
	}
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err == nil {
		os.WriteFile(filepath.Join(b.dir, "13-no-session.png"), png, 0o644)
	}
}
