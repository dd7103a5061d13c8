package azureml

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

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
	// Workspace is the workspace's ARM id.
	Workspace string `json:"workspace"`
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
	r := Resource{Time: c.now().UTC(), RunID: c.req.RunID, Step: c.step, Type: typ, Name: name, ID: id, Workspace: c.Workspace.ID()}
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
