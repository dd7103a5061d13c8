// Package dataset is the dataset step kind: read a CSV (a file beside the
// workflow or a pinned https:// URL) into typed columns, profile it, and
// register it in the workspace as name:version.
//
// The dataset's name defaults to the step's name: it is unique within the
// workflow, so a workflow with a training and a test dataset never mixes
// their versions. Set name to share a dataset across workflows.
package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Config is the dataset step's config; schema/cue/dataset.cue declares the
// same fields.
type Config struct {
	Source    string            `json:"source"`
	Target    string            `json:"target,omitempty"`
	Name      string            `json:"name,omitempty"`
	Version   int               `json:"version,omitempty"` // pin, as an Azure ML data asset's version; 0 = automatic
	Sha256    string            `json:"sha256,omitempty"`  // required for URLs, checked for files when set
	Delimiter string            `json:"delimiter,omitempty"`
	NAValues  []string          `json:"na_values,omitempty"`
	Schema    map[string]string `json:"schema,omitempty"` // column -> numeric | categorical | boolean
}

// Download limits for https:// sources. Variables so tests can shrink them.
var (
	MaxDownload     int64 = 4 << 30
	DownloadTimeout       = 10 * time.Minute
	DownloadRetries       = 3
	RetryBackoff          = time.Second
	// HTTPClient fetches URL sources; tests swap in an httptest client.
	HTTPClient = &http.Client{}
)

// Step implements the dataset kind.
type Step struct{}

// New returns the dataset kind.
func New() *Step { return &Step{} }

func (*Step) Kind() string { return "dataset" }

// Version is in every cache key: bump it when the same CSV and config
// would now give another columnar blob.
func (*Step) Version() string { return "1" }

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func decode(req *engine.Request) (*Config, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	if c.Source == "" {
		return nil, errors.New("source: required")
	}
	if c.Name == "" {
		c.Name = req.Step
	}
	if err := datasets.CheckName(c.Name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	if c.Sha256 != "" {
		c.Sha256 = strings.ToLower(strings.TrimPrefix(c.Sha256, "sha256:"))
		if !hexDigest.MatchString(c.Sha256) {
			return nil, fmt.Errorf("sha256: %q is not 64 hex digits", c.Sha256)
		}
	}
	if isURL(c.Source) {
		if !strings.HasPrefix(c.Source, "https://") {
			return nil, fmt.Errorf("source %s: only https:// URLs are fetched", c.Source)
		}
		if c.Sha256 == "" {
			return nil, fmt.Errorf("source %s: a URL needs a sha256 pin (the digest of the file), so that the run is reproducible", c.Source)
		}
	}
	if c.Version < 0 {
		return nil, fmt.Errorf("version: %d is not a positive number", c.Version)
	}
	return &c, nil
}

func isURL(s string) bool { return strings.Contains(s, "://") }

func (c *Config) path(req *engine.Request) string {
	if filepath.IsAbs(c.Source) {
		return c.Source
	}
	return filepath.Join(req.Workflow.Dir, filepath.FromSlash(c.Source))
}

func (c *Config) readOptions() (tabular.ReadOptions, error) {
	o := tabular.ReadOptions{Name: c.Source, Target: c.Target, NAValues: c.NAValues}
	switch c.Delimiter {
	case "":
	case ",", ";", "\t", "|":
		o.Delimiter = rune(c.Delimiter[0])
	case `\t`, "tab":
		o.Delimiter = '\t'
	default:
		return o, fmt.Errorf("delimiter: %q: want \",\", \";\", \"|\" or \"\\t\"", c.Delimiter)
	}
	if len(c.Schema) > 0 {
		o.Types = map[string]tabular.Type{}
		for col, t := range c.Schema {
			switch t {
			case "numeric":
				o.Types[col] = tabular.Numeric
			case "categorical":
				o.Types[col] = tabular.Categorical
			case "boolean":
				o.Types[col] = tabular.Boolean
			default:
				return o, fmt.Errorf("schema.%s: %q: want numeric, categorical or boolean", col, t)
			}
		}
	}
	return o, nil
}

// Key adds the content of the source: the file's digest, or the pinned
// digest of a URL (what the download must match).
func (s *Step) Key(ctx context.Context, req *engine.Request, w io.Writer) error {
	c, err := decode(req)
	if err != nil {
		return err
	}
	if isURL(c.Source) {
		_, err = fmt.Fprintf(w, "source %s sha256:%s\n", c.Source, c.Sha256)
		return err
	}
	d, err := store.FileDigest(ctx, c.path(req))
	if err != nil {
		return fmt.Errorf("source %s: %w", c.Source, unwrapPath(err))
	}
	_, err = fmt.Fprintf(w, "source %s %s\n", c.Source, d)
	return err
}

// Restore turns a cache hit into a miss when the registered version or
// its blob is gone (a workspace cleaned by hand).
func (s *Step) Restore(ctx context.Context, req *engine.Request, outs engine.Outputs) error {
	out, err := artifact.As[artifact.Dataset](outs["dataset"])
	if err != nil {
		return fmt.Errorf("cached dataset output: %w", err)
	}
	d, err := datasets.Get(ctx, req.Store, out.Name, out.Version)
	if err != nil {
		return err
	}
	if d.Digest != out.Digest || !req.Store.Has(out.Digest) {
		return fmt.Errorf("dataset %s no longer holds blob %s", d.Ref(), out.Digest)
	}
	return nil
}

// Run reads, profiles and registers the dataset.
func (s *Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	c, err := decode(req)
	if err != nil {
		return nil, err
	}
	opts, err := c.readOptions()
	if err != nil {
		return nil, err
	}
	path := c.path(req)
	if isURL(c.Source) {
		dir, err := req.TempDir()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "download.csv")
		if err := download(ctx, req, c.Source, c.Sha256, path); err != nil {
			return nil, err
		}
	}
	srcDigest, err := store.FileDigest(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", c.Source, unwrapPath(err))
	}
	if c.Sha256 != "" && srcDigest != "sha256:"+c.Sha256 {
		return nil, fmt.Errorf("source %s: sha256 mismatch: the file hashes to %s, the workflow pins %s", c.Source, strings.TrimPrefix(srcDigest, "sha256:"), c.Sha256)
	}

	start := time.Now()
	if req.Progress != nil {
		opts.Progress = func(read, total int64) {
			req.Progress.Update(float64(read), float64(total), "reading "+c.Source)
		}
	}
	f, err := tabular.ReadFile(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	read := time.Since(start)
	prof := f.Profile()
	logProfile(req, c, f, prof, read)

	d, created, err := datasets.Register(ctx, req.Store, f, datasets.Registration{
		Name: c.Name, Version: c.Version, Source: c.Source, SourceDigest: srcDigest,
		Description: description(req), RunID: req.RunID, Profile: prof,
	})
	if err != nil {
		return nil, err
	}
	if created {
		req.Logf("registered %s (%s, %d bytes columnar)", d.Ref(), d.Digest, d.Size)
	} else {
		req.Logf("unchanged: %s already holds this content (%s)", d.Ref(), d.Digest)
	}
	return engine.Outputs{"dataset": artifact.Dataset{
		Name: d.Name, Version: d.Version, Digest: d.Digest, Rows: d.Rows, Columns: d.Columns, Target: d.Target,
	}}, nil
}

// description is the step's description, a common step field: the schema
// keeps it out of the kind's config.
func description(req *engine.Request) string {
	if req.Workflow != nil {
		if st := req.Workflow.Steps[req.Step]; st != nil {
			return st.Description
		}
	}
	return ""
}

func logProfile(req *engine.Request, c *Config, f *tabular.Frame, p *tabular.Profile, took time.Duration) {
	counts := map[string]int{}
	for _, col := range p.Columns {
		counts[col.Type]++
	}
	req.Logf("read %s: %d rows, %d columns (%d numeric, %d categorical, %d boolean) in %s",
		c.Source, f.Rows, len(f.Columns), counts["numeric"], counts["categorical"], counts["boolean"], took.Round(time.Millisecond))
	for _, col := range p.Columns {
		line := fmt.Sprintf("  %-20s %-11s missing %d, distinct %d", col.Name, col.Type, col.Missing, col.Distinct)
		if col.Mean != nil {
			line += fmt.Sprintf(", min %.6g, mean %.6g, max %.6g", *col.Min, *col.Mean, *col.Max)
		} else if len(col.Top) > 0 {
			line += fmt.Sprintf(", top %q (%d)", col.Top[0].Value, col.Top[0].Count)
		}
		req.Logf("%s", line)
	}
	if len(p.ClassBalance) > 0 {
		var parts []string
		for _, vc := range p.ClassBalance[:min(len(p.ClassBalance), 10)] {
			parts = append(parts, fmt.Sprintf("%s %d (%.1f%%)", vc.Value, vc.Count, 100*vc.Fraction))
		}
		req.Logf("target %s: %s", p.Target, strings.Join(parts, ", "))
	}
}

// unwrapPath drops the *PathError's absolute path: messages name the
// source as the workflow wrote it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// download fetches url to path, retrying transient failures, refusing a
// body over MaxDownload and any content whose digest is not want.
func download(ctx context.Context, req *engine.Request, url, want, path string) error {
	var err error
	for attempt := 1; attempt <= DownloadRetries; attempt++ {
		var retry bool
		retry, err = fetch(ctx, req, url, want, path)
		if err == nil || !retry || attempt == DownloadRetries {
			break
		}
		wait := RetryBackoff << (attempt - 1)
		req.Logf("download %s: attempt %d of %d failed: %v; retrying in %s", url, attempt, DownloadRetries, err, wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}

func fetch(ctx context.Context, req *engine.Request, url, want, path string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, DownloadTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, fmt.Errorf("source %s: %w", url, err)
	}
	resp, err := HTTPClient.Do(hreq)
	if err != nil {
		return ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded), fmt.Errorf("source %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Server errors and throttling may pass; anything else will not.
		retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return retry, fmt.Errorf("source %s: HTTP %s", url, resp.Status)
	}
	if resp.ContentLength > MaxDownload {
		return false, fmt.Errorf("source %s: %d bytes is over the %d-byte download limit", url, resp.ContentLength, MaxDownload)
	}
	out, err := os.Create(path)
	if err != nil {
		return false, err
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(resp.Body, MaxDownload+1))
	if err != nil {
		return true, fmt.Errorf("source %s: download: %w", url, err)
	}
	if n > MaxDownload {
		return false, fmt.Errorf("source %s: over the %d-byte download limit", url, MaxDownload)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return true, fmt.Errorf("source %s: download cut short at %d of %d bytes", url, n, resp.ContentLength)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return false, fmt.Errorf("source %s: sha256 mismatch: the download hashes to %s, the workflow pins %s", url, got, want)
	}
	if err := out.Close(); err != nil {
		return false, err
	}
	req.Logf("downloaded %s: %d bytes, sha256 %s", url, n, want)
	return false, nil
}
