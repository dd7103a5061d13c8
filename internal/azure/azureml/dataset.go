package azureml

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/dataset"
)

// A dataset on Azure is registered twice: locally, exactly as the local
// kind does (so its output, digest and version are the local ones, and
// consume or benchmark can draw rows from it), then as an Azure data asset
// of the same name and version: the CSV and an MLTable file uploaded to the
// workspace's default datastore, and a data version of type mltable
// pointing at them (AutoML reads tabular data only as MLTable). The digest
// decides: a data version that already carries it is left alone and
// nothing is uploaded.

const digestTag = "mlflow.digest"

func keyDataset(ctx context.Context, req *engine.Request, w io.Writer) error {
	return dataset.New().Key(ctx, req, w)
}

// mltable is the MLTable file beside the CSV: read it as delimited text
// with a header row.
func mltable(file, delim string) []byte {
	if delim == "" {
		delim = ","
	}
	q := fmt.Sprintf("%q", delim)
	return []byte("paths:\n  - file: ./" + file + "\ntransformations:\n  - read_delimited:\n      delimiter: " + q +
		"\n      encoding: utf8\n      header: all_files_same_headers\n")
}

func runDataset(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg dataset.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	if c.req.Workflow == nil {
		return nil, fmt.Errorf("dataset needs the workflow: its source is relative to the workflow's folder")
	}
	var d artifact.Dataset
	src := cfg.Source // the CSV as read
	if !filepath.IsAbs(src) && !strings.Contains(src, "://") {
		src = filepath.Join(c.req.Workflow.Dir, src)
	}
	if c.dry {
		// Nothing is registered by a dry run: the version shown is the
		// one a workspace without this dataset would give.
		var sd string
		if strings.Contains(src, "://") {
			sd = "sha256:" + cfg.Sha256 // the schema requires it for a URL
		} else {
			var err error
			if sd, err = store.FileDigest(ctx, src); err != nil {
				return nil, fmt.Errorf("source %s: %w", cfg.Source, err)
			}
		}
		name := cfg.Name
		if name == "" {
			name = c.step
		}
		v := cfg.Version
		if v == 0 {
			v = 1
		}
		d = artifact.Dataset{Name: name, Version: v, Digest: sd, Target: cfg.Target}
	} else {
		outs, err := dataset.New().Run(ctx, c.req)
		if err != nil {
			return nil, err
		}
		if d, err = artifact.As[artifact.Dataset](outs["dataset"]); err != nil {
			return nil, err
		}
		if strings.Contains(src, "://") {
			// The local kind downloaded it into the step's scratch folder.
			dir, err := c.req.TempDir()
			if err != nil {
				return nil, err
			}
			src = filepath.Join(dir, "download.csv")
		}
	}
	if err := c.dataAsset(ctx, d, src, cfg.Delimiter); err != nil {
		return nil, err
	}
	return engine.Outputs{"dataset": d}, nil
}

// dataAsset makes sure data version d.Name:d.Version exists on Azure with
// d's content.
func (c *call) dataAsset(ctx context.Context, d artifact.Dataset, src, delim string) error {
	sub := fmt.Sprintf("data/%s/versions/%d", seg(d.Name), d.Version)
	var have struct {
		Properties struct {
			Tags map[string]string `json:"tags"`
		} `json:"properties"`
	}
	err := c.arm(ctx, "GET", sub, nil, &have, false)
	switch {
	case err == nil:
		if got := have.Properties.Tags[digestTag]; got != d.Digest {
			return fmt.Errorf("data asset %s:%d already exists on Azure with other content (%s %q, here %s): pin another version, or rename the dataset", d.Name, d.Version, digestTag, got, d.Digest)
		}
		c.req.Logf("unchanged on Azure: data asset %s:%d already holds %s", d.Name, d.Version, d.Digest)
		return nil
	case !notFound(err):
		return err
	}
	ds, err := azure.DefaultDatastore(ctx, c.doer, c.step, c.Workspace)
	if err != nil {
		return err
	}
	var secrets *azure.DatastoreSecrets
	if !c.dry {
		s, err := azure.ListSecrets(ctx, c.doer, c.step, c.Workspace, ds.Name)
		if err != nil {
			return err
		}
		secrets = &s
	} else if err := c.arm(ctx, "POST", "datastores/"+seg(ds.Name)+"/listSecrets", nil, nil, false); err != nil {
		// azure.ListSecretsRequest's URL, with the placeholder left readable.
		return err
	}
	// The folder is named by content: the same CSV always lands in the same place.
	hex := strings.TrimPrefix(d.Digest, "sha256:")
	dir := "mlflow/datasets/" + d.Name + "/" + hex[:min(16, len(hex))]
	var csv []byte
	if c.dry {
		csv = []byte(fmt.Sprintf("${{ the bytes of %s }}", filepath.Base(src)))
	} else if csv, err = os.ReadFile(src); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{"data.csv", csv}, {"MLTable", mltable("data.csv", delim)}} {
		r, err := azure.BlobRequest(c.step, ds, secrets, dir+"/"+f.name, f.body, c.now())
		if err != nil {
			return err
		}
		if err := c.record("blobs", dir+"/"+f.name, stripQuery(r.URL)); err != nil {
			return err
		}
		if err := c.send(ctx, r, nil); err != nil {
			return err
		}
	}
	tags := c.tags()
	tags[digestTag] = d.Digest
	props := map[string]any{
		"dataType":       "mltable",
		"dataUri":        ds.URI(dir),
		"tags":           tags,
		"referencedUris": []string{ds.URI(dir + "/data.csv")},
	}
	if desc := c.description(); desc != "" {
		props["description"] = desc
	}
	body := map[string]any{"properties": props}
	if err := c.record("data", fmt.Sprintf("%s:%d", d.Name, d.Version), c.id(sub)); err != nil {
		return err
	}
	if err := c.arm(ctx, "PUT", sub, body, nil, false); err != nil {
		return err
	}
	c.req.Logf("registered data asset %s:%d on Azure (%s)", d.Name, d.Version, ds.URI(dir))
	return nil
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
