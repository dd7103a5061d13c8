package azureml

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
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

// Live is what the records say still exists on Azure: for each ARM id its latest record,
// unless mlflow deleted it since, oldest first.
func Live(s *store.Store) ([]Resource, error) {
	rs, err := Resources(s)
	if err != nil {
		return nil, err
	}
	latest := map[string]int{}
	for i, r := range rs {
		latest[strings.ToLower(r.ID)] = i
	}
	var out []Resource
	for i, r := range rs {
		if latest[strings.ToLower(r.ID)] == i && !r.Deleted {
			out = append(out, r)
		}
	}
	return out, nil
}

// Ref is how the CLI names a recorded resource: TYPE/NAME.
func (r Resource) Ref() string { return r.Type + "/" + r.Name }

// deleteOrder is the order in which --all deletes, by type: what refers to others first
// (a schedule and a batch deployment name a component; a deployment a model), so that
// Azure refuses nothing for being in use.
var deleteOrder = map[string]int{
	"schedules": 0, "onlineEndpoints/deployments": 1, "onlineEndpoints": 2,
	"batchEndpoints/deployments": 3, "batchEndpoints": 4, "jobs": 5,
	"components": 6, "models": 7, "data": 8, "blobs": 9,
}

// SortForDelete orders rs as a deletion of all of them must go: by deleteOrder, the most
// recent first within a type (a pipeline component before the command components it
// names).
func SortForDelete(rs []Resource) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := deleteOrder[rs[i].Type], deleteOrder[rs[j].Type]
		if a != b {
			return a < b
		}
		return rs[i].Time.After(rs[j].Time)
	})
}

// lroDelete are the types whose DELETE is a long-running operation (ARM's 202 and a
// Location to poll); versions of data, models and components are deleted at once.
var lroDelete = map[string]bool{
	"schedules": true, "onlineEndpoints": true, "onlineEndpoints/deployments": true,
	"batchEndpoints": true, "batchEndpoints/deployments": true, "jobs": true,
}

// Delete deletes a recorded resource on Azure, waits for a long-running deletion to end,
// and records it deleted, with what went with it (an endpoint's deployments). One that is
// already gone is recorded deleted too. newDoer makes the client for its workspace.
func Delete(ctx context.Context, s *store.Store, r Resource, newDoer func(azure.Workspace) (azure.Doer, error)) error {
	ws, err := workspaceOf(&r)
	if err != nil {
		return err
	}
	prefix := strings.ToLower(r.Workspace) + "/"
	if r.Type != "blobs" && !strings.HasPrefix(strings.ToLower(r.ID), prefix) {
		return fmt.Errorf("%s: recorded id %s is not in workspace %s", r.Ref(), r.ID, r.Workspace)
	}
	d, err := newDoer(ws)
	if err != nil {
		return err
	}
	if r.Type == "blobs" {
		err = deleteBlob(ctx, d, ws, r)
	} else {
		req := azure.Request{Step: r.Step, Method: "DELETE", URL: ws.URL(r.ID[len(prefix):]), LRO: lroDelete[r.Type]}
		err = d.Do(ctx, req, nil)
	}
	if err != nil && !notFound(err) {
		return fmt.Errorf("%s: %w", r.Ref(), err)
	}
	live, err := Live(s)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, o := range live {
		if strings.EqualFold(o.ID, r.ID) || strings.HasPrefix(strings.ToLower(o.ID), strings.ToLower(r.ID)+"/") {
			o.Time, o.Deleted = now, true
			if err := appendRecord(s, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteBlob deletes a blob a dataset step uploaded to the workspace's default datastore,
// signed with the datastore's secrets as the upload was.
func deleteBlob(ctx context.Context, d azure.Doer, ws azure.Workspace, r Resource) error {
	ds, err := azure.DefaultDatastore(ctx, d, r.Step, ws)
	if err != nil {
		return err
	}
	url := ds.BlobURL(r.Name)
	if !strings.EqualFold(url, r.ID) {
		return fmt.Errorf("the blob is at %s, not in the workspace's default datastore (%s) now: delete it with Azure Storage's tools", r.ID, ds.Name)
	}
	secrets, err := azure.ListSecrets(ctx, d, r.Step, ws, ds.Name)
	if err != nil {
		return err
	}
	req, err := azure.SignBlob(azure.Request{Step: r.Step, Method: "DELETE", URL: url, Header: map[string]string{"x-ms-version": azure.BlobAPIVersion}}, ds, secrets, time.Now())
	if err != nil {
		return err
	}
	return d.Do(ctx, req, nil)
}
