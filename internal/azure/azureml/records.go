package azureml

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Resource is one thing a step created or changed on Azure, as the local
// workspace remembers it: what `mlflow endpoint stop NAME` (and a person
// cleaning up) needs to find it again.
type Resource struct {
	Time  time.Time `json:"time"`
	RunID string    `json:"run"`
	Step  string    `json:"step"`
	// Type is the ARM collection: "data", "jobs", "models",
	// "onlineEndpoints", "onlineEndpoints/deployments", "components",
	// "batchEndpoints", "batchEndpoints/deployments", "schedules", "blobs".
	Type string `json:"type"`
	Name string `json:"name"`
	// ID is the ARM resource id (or the blob's URL).
	ID string `json:"id"`
	// Workspace is the workspace's ARM id, Cloud its cloud: what a later
	// command needs to reach the resource again.
	Workspace string      `json:"workspace"`
	Cloud     azure.Cloud `json:"cloud"`
	// Deleted marks a later line saying mlflow deleted the resource.
	Deleted bool `json:"deleted,omitempty"`
}

// recordsFile is where resources are listed, one JSON object a line,
// appended: a line is written before the request that creates the
// resource, so a crash in between leaves a record of something that may
// not exist, never the reverse.
var recordsFile = []string{"azureml", "resources.jsonl"}

var recordsMu sync.Mutex

func (c *call) record(typ, name, id string) error {
	if c.dry {
		return nil
	}
	r := Resource{Time: c.now().UTC(), RunID: c.req.RunID, Step: c.step, Type: typ, Name: name, ID: id, Workspace: c.Workspace.ID(), Cloud: c.Workspace.Cloud}
	return appendRecord(c.req.Store, r)
}

func appendRecord(s *store.Store, r Resource) error {
	p, err := s.Path(recordsFile...)
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	recordsMu.Lock()
	defer recordsMu.Unlock()
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("recording Azure resource %s %s: %w", r.Type, r.Name, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("recording Azure resource %s %s: %w", r.Type, r.Name, err)
	}
	return f.Close()
}

// Resources lists what the workspace's runs created on Azure, oldest
// first. A line that does not parse (a torn write) is skipped.
func Resources(s *store.Store) ([]Resource, error) {
	p, err := s.Path(recordsFile...)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Resource
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Resource
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Type != "" {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// LiveEndpoint is the last recorded online endpoint named name that mlflow
// has not deleted since, if any.
func LiveEndpoint(s *store.Store, name string) (*Resource, error) {
	rs, err := Resources(s)
	if err != nil {
		return nil, err
	}
	var live *Resource
	for i := range rs {
		if r := &rs[i]; r.Type == "onlineEndpoints" && r.Name == name {
			if r.Deleted {
				live = nil
			} else {
				live = r
			}
		}
	}
	return live, nil
}

// workspaceOf parses a recorded workspace id back.
func workspaceOf(r *Resource) (azure.Workspace, error) {
	p := strings.Split(strings.Trim(r.Workspace, "/"), "/")
	if len(p) != 8 || !strings.EqualFold(p[0], "subscriptions") || !strings.EqualFold(p[2], "resourceGroups") || !strings.EqualFold(p[6], "workspaces") {
		return azure.Workspace{}, fmt.Errorf("recorded workspace %q is not a workspace id", r.Workspace)
	}
	return azure.Workspace{SubscriptionID: p[1], ResourceGroup: p[3], Name: p[7], Cloud: r.Cloud}, nil
}

// DeleteEndpoint deletes a recorded online endpoint (and so its
// deployments) on Azure, waits for the deletion to end, and records it.
// newDoer makes the client for the endpoint's workspace.
func DeleteEndpoint(ctx context.Context, s *store.Store, r *Resource, newDoer func(azure.Workspace) (azure.Doer, error)) (azure.Workspace, error) {
	ws, err := workspaceOf(r)
	if err != nil {
		return ws, err
	}
	d, err := newDoer(ws)
	if err != nil {
		return ws, err
	}
	req := azure.Request{Step: r.Step, Method: "DELETE", URL: ws.URL("onlineEndpoints/" + seg(r.Name)), LRO: true}
	if err := d.Do(ctx, req, nil); err != nil && !notFound(err) {
		return ws, fmt.Errorf("endpoint %s: %w", r.Name, err)
	}
	del := *r
	del.Time, del.Deleted = time.Now().UTC(), true
	return ws, appendRecord(s, del)
}
