package azureml

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/schema"
)

// Settings are what the azureml kinds need to know about where they run.
type Settings struct {
	Workspace azure.Workspace
	// Compute is the compute cluster jobs run on; "" runs them serverless
	// on InstanceType.
	Compute string
	// InstanceType is the VM size of serverless jobs and deployments ("":
	// Azure's defaults, see jobInstanceType and deployInstanceType).
	InstanceType string
	// Experiment groups the jobs in Studio (default: the workflow's name).
	Experiment string
	// From says where the workspace was found, for messages and `mlflow plan`.
	From string
}

// WorkspaceFlags are run's and plan's --subscription, --resource-group and
// --workspace-name.
type WorkspaceFlags struct {
	Subscription, ResourceGroup, Workspace string
}

func (f WorkspaceFlags) any() bool {
	return f.Subscription != "" || f.ResourceGroup != "" || f.Workspace != ""
}

// configJSON is Azure's own config.json, the file Studio's "download
// config.json" gives and the Python SDK's from_config reads.
type configJSON struct {
	SubscriptionID string `json:"subscription_id"`
	ResourceGroup  string `json:"resource_group"`
	WorkspaceName  string `json:"workspace_name"`
}

// FindConfig looks for config.json as the Python SDK does: in dir, then
// dir/.azureml, then each parent and its .azureml, up to the root. "" with
// a nil error: none.
func FindConfig(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		for _, p := range []string{filepath.Join(dir, "config.json"), filepath.Join(dir, ".azureml", "config.json")} {
			fi, err := os.Stat(p)
			switch {
			case err == nil && fi.Mode().IsRegular():
				return p, nil
			case err != nil && !errors.Is(err, fs.ErrNotExist):
				return "", err
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

func readConfig(path string) (configJSON, error) {
	var c configJSON
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, &schema.Error{Pos: schema.Pos{File: path}, Msg: fmt.Sprintf("not Azure's config.json: %v", err)}
	}
	var missing []string
	if c.SubscriptionID == "" {
		missing = append(missing, "subscription_id")
	}
	if c.ResourceGroup == "" {
		missing = append(missing, "resource_group")
	}
	if c.WorkspaceName == "" {
		missing = append(missing, "workspace_name")
	}
	if len(missing) > 0 {
		return c, &schema.Error{Pos: schema.Pos{File: path}, Msg: fmt.Sprintf("Azure's config.json needs subscription_id, resource_group and workspace_name; missing %q", missing)}
	}
	return c, nil
}

// ResolveSettings finds the workspace of a workflow run on target azureml.
// Each of subscription, resource group and workspace name comes from the
// first of: its flag, the file's azureml block, config.json found from cwd.
// The block's other settings (cloud, compute, ...) apply in every case.
func ResolveSettings(wf *schema.Workflow, flags WorkspaceFlags, cwd string) (Settings, error) {
	s := Settings{Experiment: wf.Name}
	b := wf.AzureML
	str := func(k string) string { v, _ := b[k].(string); return v }
	ws := azure.Workspace{SubscriptionID: str("subscription_id"), ResourceGroup: str("resource_group"), Name: str("workspace")}
	s.From = "the azureml block of " + wf.File
	if ws.SubscriptionID == "" || ws.ResourceGroup == "" || ws.Name == "" {
		p, err := FindConfig(cwd)
		if err != nil {
			return s, err
		}
		if p == "" && !flags.any() {
			return s, &schema.Error{Pos: wf.TargetPos, Path: "target",
				Msg: fmt.Sprintf("target azureml needs a workspace: an azureml: {subscription_id, resource_group, workspace} block in the file, Azure's config.json in %s, a parent folder or their .azureml folder, or --subscription, --resource-group and --workspace-name", cwd)}
		}
		if p != "" {
			c, err := readConfig(p)
			if err != nil && !(flags.Subscription != "" && flags.ResourceGroup != "" && flags.Workspace != "") {
				return s, err
			}
			ws = azure.Workspace{SubscriptionID: c.SubscriptionID, ResourceGroup: c.ResourceGroup, Name: c.WorkspaceName}
			s.From = p
		}
	}
	if flags.any() {
		s.From = "--subscription, --resource-group, --workspace-name"
	}
	if flags.Subscription != "" {
		ws.SubscriptionID = flags.Subscription
	}
	if flags.ResourceGroup != "" {
		ws.ResourceGroup = flags.ResourceGroup
	}
	if flags.Workspace != "" {
		ws.Name = flags.Workspace
	}
	var missing []string
	for _, m := range []struct{ v, flag string }{{ws.SubscriptionID, "--subscription"}, {ws.ResourceGroup, "--resource-group"}, {ws.Name, "--workspace-name"}} {
		if m.v == "" {
			missing = append(missing, m.flag)
		}
	}
	if len(missing) > 0 {
		return s, &schema.Error{Pos: wf.TargetPos, Path: "target",
			Msg: fmt.Sprintf("target azureml: the workspace is incomplete: add %v (or an azureml block, or Azure's config.json)", missing)}
	}
	switch c := b["cloud"].(type) {
	case nil:
		ws.Cloud = azure.Clouds["public"]
	case string:
		ws.Cloud = azure.Clouds[c]
	case map[string]any:
		ws.Cloud.AuthorityHost, _ = c["authority_host"].(string)
		ws.Cloud.ResourceManager, _ = c["resource_manager"].(string)
	}
	s.Workspace = ws
	s.Compute, s.InstanceType = str("compute"), str("instance_type")
	if e := str("experiment"); e != "" {
		s.Experiment = e
	}
	return s, nil
}
