// Package azure is the hand-written Azure Machine Learning client the azureml target uses:
// ARM requests on azcore's pipeline (bearer token from azidentity, retries, pollers), blob
// uploads to a workspace datastore, and calls to online scoring endpoints with their key.
//
// The generated armmachinelearning module is not available, so requests are built from
// plain JSON values; the fake in ./fakeazure checks every body against the published spec.
package azure

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// APIVersion is the Azure ML control-plane version every ARM URL carries: the latest
// stable one, the default tag of the REST spec's readme.
const APIVersion = "2026-07-01"

// Cloud is the pair of endpoints that differ between Azure clouds.
type Cloud struct {
	AuthorityHost   string `json:"authority_host"`   // https://login.microsoftonline.com/
	ResourceManager string `json:"resource_manager"` // https://management.azure.com/
}

// Clouds are the named clouds a workflow may choose with azureml.cloud. The values are
// those of azcore/cloud's AzurePublic, AzureChina and AzureGovernment.
var Clouds = map[string]Cloud{
	"public": {AuthorityHost: "https://login.microsoftonline.com/", ResourceManager: "https://management.azure.com/"},
	"china":  {AuthorityHost: "https://login.chinacloudapi.cn/", ResourceManager: "https://management.chinacloudapi.cn/"},
	"usgov":  {AuthorityHost: "https://login.microsoftonline.us/", ResourceManager: "https://management.usgovcloudapi.net/"},
}

// Workspace names one Azure ML workspace.
type Workspace struct {
	SubscriptionID, ResourceGroup, Name string
	Cloud                               Cloud
}

// ID is the workspace's ARM resource id (/subscriptions/.../workspaces/NAME).
func (w Workspace) ID() string {
	return "/subscriptions/" + url.PathEscape(w.SubscriptionID) +
		"/resourceGroups/" + url.PathEscape(w.ResourceGroup) +
		"/providers/Microsoft.MachineLearningServices/workspaces/" + url.PathEscape(w.Name)
}

// URL is the ARM URL of a path under the workspace ("" = the workspace), with api-version.
// sub is a path such as "jobs/abc" or "/datastores?isDefault=true": a query it carries is
// kept and api-version appended to it.
func (w Workspace) URL(sub string) string {
	base := strings.TrimSuffix(w.Cloud.ResourceManager, "/")
	if base == "" {
		base = strings.TrimSuffix(Clouds["public"].ResourceManager, "/")
	}
	p := w.ID()
	query := ""
	if i := strings.IndexByte(sub, '?'); i >= 0 {
		sub, query = sub[:i], sub[i+1:]
	}
	if sub = strings.Trim(sub, "/"); sub != "" {
		p += "/" + sub
	}
	if query != "" {
		query += "&"
	}
	return base + p + "?" + query + "api-version=" + APIVersion
}

// Request is one call to Azure (ARM, Blob Storage or a scoring endpoint): what
// `mlflow run --target azureml --dry-run` prints as a JSON line, and what Client.Do sends.
//
// How Client.Do authenticates a request:
//   - a Header "Authorization" set by the caller (a scoring endpoint's key, "Bearer KEY")
//     is sent as given, through a pipeline without the ARM bearer-token policy;
//   - a URL on a blob host (https://ACCOUNT.blob.SUFFIX/...) is Blob Storage: use
//     Client.UploadBlob, which signs with the datastore's account key or SAS;
//   - anything else is ARM and carries the azidentity token for the cloud's audience.
type Request struct {
	Step   string            `json:"step"`
	Method string            `json:"method"`
	URL    string            `json:"url"`            // absolute, ARM URLs with their api-version
	Body   any               `json:"body,omitempty"` // JSON-encoded; a []byte or io.Reader is sent raw
	Header map[string]string `json:"-"`              // e.g. x-ms-blob-type, Content-Type for raw bodies
	// LRO: the call may start a long-running ARM operation (201/202 with Azure-AsyncOperation
	// or Location); Do polls it to the end with azcore's poller and returns the final resource.
	LRO bool `json:"-"`
}

// Doer sends requests. Client implements it; tests and --dry-run may use others.
type Doer interface {
	// Do sends r and decodes the JSON answer into out (nil: discarded). A non-2xx answer is
	// an *Error. Retries (429 with Retry-After, 5xx) happen inside.
	Do(ctx context.Context, r Request, out any) error
}

// Error is an error answer from Azure, printed "CODE: message (METHOD URL-without-query -> STATUS)".
type Error struct {
	Status        int
	Code, Message string
	Method, URL   string
}

func (e *Error) Error() string {
	u := e.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	code := e.Code
	if code == "" {
		code = fmt.Sprintf("HTTP%d", e.Status)
	}
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("%s: %s (%s %s -> %d)", code, msg, e.Method, u, e.Status)
}
