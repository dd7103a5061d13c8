package azure_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/azure/fakeazure"
)

// These tests run the real azidentity (EnvironmentCredential through DefaultAzureCredential,
// MSAL's instance discovery and client-credentials grant) and azcore (bearer policy, retry
// policy, pollers) against the fake; only the transport is the fake's, so that every host
// name resolves to it. No request can leave the machine.

func newClient(t *testing.T, s *fakeazure.Server) *azure.Client {
	t.Helper()
	t.Setenv("AZURE_TENANT_ID", fakeazure.TenantID)
	t.Setenv("AZURE_CLIENT_ID", fakeazure.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", fakeazure.ClientSecret)
	unsetenv(t, "AZURE_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS")
	c, err := azure.New(s.Workspace(), &azure.Options{
		Transport:     s.Client(),
		PollFrequency: 10 * time.Millisecond,
		Retry:         policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 1500 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unsetenv removes variables for the test (azidentity tells unset from empty).
func unsetenv(t *testing.T, names ...string) {
	for _, k := range names {
		t.Setenv(k, "") // registers the restore
		os.Unsetenv(k)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// count is how many recorded requests have this method and a path ending in suffix.
func count(s *fakeazure.Server, method, suffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func endpointBody() map[string]any {
	return map[string]any{
		"location":   fakeazure.Location,
		"identity":   map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"authMode": "Key"},
	}
}

func TestPutLROPolledWithRealCredential(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ws := s.Workspace()
	var out struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
			ScoringURI        string `json:"scoringUri"`
		} `json:"properties"`
	}
	err := c.Do(ctx(t), azure.Request{Step: "deploy", Method: "PUT", URL: ws.URL("onlineEndpoints/ep1"), Body: endpointBody(), LRO: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Properties.ProvisioningState != "Succeeded" {
		t.Errorf("provisioningState = %q after the LRO, want Succeeded", out.Properties.ProvisioningState)
	}
	if !strings.HasPrefix(out.Properties.ScoringURI, "https://ep1.") {
		t.Errorf("scoringUri = %q", out.Properties.ScoringURI)
	}
	var discovery, token, polls, finalGet bool
	for _, r := range s.Requests() {
		switch {
		case r.Host == "login.microsoftonline.com" && r.Path == "/common/discovery/instance":
			discovery = true
		case r.Host == "login.fakeazure.test" && strings.HasSuffix(r.Path, "/oauth2/v2.0/token") && r.Status == 200:
			token = true
		case strings.Contains(r.Path, "/mfeOperationsStatus/"):
			polls = true
		case r.Method == "GET" && strings.HasSuffix(r.Path, "/onlineEndpoints/ep1"):
			finalGet = true
		}
	}
	if !discovery || !token || !polls || !finalGet {
		t.Errorf("instance discovery %v, token %v, operation polled %v, resource read at the end %v; requests:\n%s",
			discovery, token, polls, finalGet, dump(s))
	}
}

func dump(s *fakeazure.Server) string {
	var b strings.Builder
	for _, r := range s.Requests() {
		b.WriteString(r.Method + " " + r.URL + " -> " + http.StatusText(r.Status) + "\n")
	}
	return b.String()
}

func TestRetryAfter429IsHonoured(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	s.Fail(fakeazure.Failure{Method: "PUT", Path: "/data/bank", Status: 429, Code: "TooManyRequests", Message: "slow down", RetryAfter: "1"})
	body := map[string]any{"properties": map[string]any{"dataType": "mltable"}}
	if err := c.Do(ctx(t), azure.Request{Method: "PUT", URL: s.Workspace().URL("data/bank"), Body: body}, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(s, "PUT", "/data/bank"); n != 2 {
		t.Fatalf("%d PUTs, want 2 (one 429, one retry):\n%s", n, dump(s))
	}
}

func TestServerErrorThenSuccessIsRetried(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	s.Fail(fakeazure.Failure{Method: "GET", Path: "/datastores", Status: 500, Code: "InternalServerError", Message: "try again"})
	ds, err := azure.DefaultDatastore(ctx(t), c, "dataset", s.Workspace())
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != fakeazure.Datastore || ds.AccountName != fakeazure.StorageAccount {
		t.Errorf("datastore = %+v", ds)
	}
	if n := count(s, "GET", "/datastores"); n != 2 {
		t.Fatalf("%d GETs, want 2", n)
	}
}

func TestUnauthorizedIsCodeAndMessage(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	s.Fail(fakeazure.Failure{Path: "/jobs/j1", Status: 401, Code: "InvalidAuthenticationToken", Message: "The access token expired.", Times: 5})
	err := c.Do(ctx(t), azure.Request{Method: "GET", URL: s.Workspace().URL("jobs/j1")}, nil)
	var ae *azure.Error
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("err = %v, want an *azure.Error with status 401", err)
	}
	want := "InvalidAuthenticationToken: The access token expired. (GET https://management.azure.com" + s.Workspace().ID() + "/jobs/j1 -> 401)"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if n := count(s, "GET", "/jobs/j1"); n != 1 {
		t.Errorf("a 401 was sent %d times; it must not be retried", n)
	}
}

func TestARMErrorNamesTheResource(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	err := c.Do(ctx(t), azure.Request{Method: "GET", URL: s.Workspace().URL("onlineEndpoints/nope")}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "ResourceNotFound: ") || !strings.Contains(err.Error(), "/onlineEndpoints/nope -> 404)") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeploymentFailingProvisioningNamesTheDeployment(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ws := s.Workspace()
	s.FailDeployment("ep1", "blue", "ImageBuildFailure", "the environment did not build")
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("onlineEndpoints/ep1"), Body: endpointBody(), LRO: true}, nil))
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("models/m/versions/1"),
		Body: map[string]any{"properties": map[string]any{"modelType": "mlflow_model", "modelUri": "azureml://jobs/j/outputs/best_model"}}}, nil))
	dep := map[string]any{
		"location": fakeazure.Location,
		"sku":      map[string]any{"name": "Default", "capacity": 1},
		"properties": map[string]any{"endpointComputeType": "Managed", "model": ws.ID() + "/models/m/versions/1",
			"instanceType": "Standard_F4s_v2", "scaleSettings": map[string]any{"scaleType": "Default"}},
	}
	err := c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("onlineEndpoints/ep1/deployments/blue"), Body: dep, LRO: true}, nil)
	var ae *azure.Error
	if !errors.As(err, &ae) || ae.Code != "ImageBuildFailure" || !strings.Contains(err.Error(), "the environment did not build") ||
		!strings.Contains(err.Error(), "/onlineEndpoints/ep1/deployments/blue -> ") {
		t.Fatalf("err = %v", err)
	}
	if got := s.Resource("onlineEndpoints/ep1/deployments/blue")["properties"].(map[string]any)["provisioningState"]; got != "Failed" {
		t.Errorf("provisioningState = %v, want Failed", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func automlJob(ws azure.Workspace) map[string]any {
	return map[string]any{"properties": map[string]any{
		"jobType": "AutoML", "experimentName": "bank", "identity": map[string]any{"identityType": "AMLToken"},
		"resources": map[string]any{"instanceType": "Standard_DS3_v2"},
		"taskDetails": map[string]any{
			"taskType": "Classification", "targetColumnName": "y", "primaryMetric": "AUCWeighted",
			"trainingData":  map[string]any{"jobInputType": "mltable", "uri": "azureml://datastores/workspaceblobstore/paths/bank"},
			"limitSettings": map[string]any{"timeout": "PT1H", "maxTrials": 20, "maxConcurrentTrials": 1, "enableEarlyTermination": true},
		},
	}}
}

type jobOut struct {
	Properties struct {
		Status  string                    `json:"status"`
		Outputs map[string]map[string]any `json:"outputs"`
		Error   *struct{ Code, Message string }
	} `json:"properties"`
}

func TestJobStateMachineFailureAndCancel(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ws := s.Workspace()
	poll := func(name string) (seen []string, last jobOut) {
		for i := 0; i < 20; i++ {
			var j jobOut
			must(t, c.Do(ctx(t), azure.Request{Method: "GET", URL: ws.URL("jobs/" + name)}, &j))
			seen = append(seen, j.Properties.Status)
			if j.Properties.Status == "Completed" || j.Properties.Status == "Failed" || j.Properties.Status == "Canceled" {
				return seen, j
			}
		}
		t.Fatalf("job %s never ended: %v", name, seen)
		return nil, jobOut{}
	}
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("jobs/ok"), Body: automlJob(ws)}, nil))
	seen, j := poll("ok")
	if got := strings.Join(seen, ","); got != "Queued,Preparing,Running,Finalizing,Completed" {
		t.Errorf("states %s", got)
	}
	if j.Properties.Outputs["best_model"]["jobOutputType"] != "mlflow_model" {
		t.Errorf("outputs = %v", j.Properties.Outputs)
	}

	s.FailJob("bad", "UserError", "target column y not found")
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("jobs/bad"), Body: automlJob(ws)}, nil))
	_, j = poll("bad")
	if j.Properties.Status != "Failed" || j.Properties.Error == nil || j.Properties.Error.Code != "UserError" {
		t.Errorf("failed job = %+v", j.Properties)
	}

	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("jobs/stop"), Body: automlJob(ws)}, nil))
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ws.URL("jobs/stop/cancel"), LRO: true}, nil))
	_, j = poll("stop")
	if j.Properties.Status != "Canceled" {
		t.Errorf("cancelled job is %s", j.Properties.Status)
	}
}

func TestBlobUploadSharedKeyAndSAS(t *testing.T) {
	for _, sas := range []bool{false, true} {
		s, err := fakeazure.New(&fakeazure.Options{SAS: sas})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := newClient(t, s)
		ws := s.Workspace()
		ds, err := azure.DefaultDatastore(ctx(t), c, "dataset", ws)
		must(t, err)
		sec, err := azure.ListSecrets(ctx(t), c, "dataset", ws, ds.Name)
		must(t, err)
		must(t, azure.UploadBlob(ctx(t), c, "dataset", ds, sec, "bank/a b.csv", []byte("age,y\n1,no\n")))
		if got, ok := s.Blob("bank/a b.csv"); !ok || string(got) != "age,y\n1,no\n" {
			t.Errorf("sas=%v: blob = %q, %v", sas, got, ok)
		}
		if p := s.Problems(); len(p) > 0 {
			t.Errorf("sas=%v: %v", sas, p)
		}
	}
}

func TestBlobUploadWithWrongKeyIsRefused(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ds, err := azure.DefaultDatastore(ctx(t), c, "dataset", s.Workspace())
	must(t, err)
	wrong := azure.DatastoreSecrets{SecretsType: "AccountKey", Key: "d3Jvbmcta2V5"}
	err = azure.UploadBlob(ctx(t), c, "dataset", ds, wrong, "x.csv", []byte("a\n"))
	var ae *azure.Error
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "AuthenticationFailed" {
		t.Fatalf("err = %v", err)
	}
}

func TestScoringWithEndpointKey(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ws := s.Workspace()
	var ep struct {
		Properties struct {
			ScoringURI string `json:"scoringUri"`
		} `json:"properties"`
	}
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("onlineEndpoints/ep1"), Body: endpointBody(), LRO: true}, &ep))
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("onlineEndpoints/ep1/deployments/blue"), LRO: true, Body: map[string]any{
		"location": fakeazure.Location, "sku": map[string]any{"name": "Default", "capacity": 1},
		"properties": map[string]any{"endpointComputeType": "Managed", "instanceType": "Standard_F4s_v2"}}}, nil))
	ep1 := endpointBody()
	ep1["properties"].(map[string]any)["traffic"] = map[string]any{"blue": 100}
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("onlineEndpoints/ep1"), Body: ep1, LRO: true}, nil))
	var keys struct{ PrimaryKey, SecondaryKey string }
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ws.URL("onlineEndpoints/ep1/listKeys")}, &keys))
	body := map[string]any{"input_data": map[string]any{"columns": []string{"age"}, "index": []int{0, 1}, "data": [][]any{{30}, {40}}}}
	var preds []any
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ep.Properties.ScoringURI, Body: body,
		Header: map[string]string{"Authorization": "Bearer " + keys.SecondaryKey}}, &preds))
	if len(preds) != 2 {
		t.Errorf("predictions = %v", preds)
	}
	err := c.Do(ctx(t), azure.Request{Method: "POST", URL: ep.Properties.ScoringURI, Body: body,
		Header: map[string]string{"Authorization": "Bearer not-a-key"}}, nil)
	var ae *azure.Error
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("wrong key: err = %v", err)
	}
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Host, ".inference.ml.azure.com") && r.Status == 200 && strings.Contains(string(r.Body), "fake-token") {
			t.Errorf("the ARM token went to the scoring endpoint")
		}
	}
	var logs struct{ Content string }
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ws.URL("onlineEndpoints/ep1/deployments/blue/getLogs"),
		Body: map[string]any{"containerType": "InferenceServer", "tail": 1}}, &logs))
	if !strings.Contains(logs.Content, "rows=2") || strings.Count(logs.Content, "\n") != 0 {
		t.Errorf("logs = %q", logs.Content)
	}
}

func TestNoCredentialSaysHowToLogIn(t *testing.T) {
	s := fakeazure.Start(t)
	unsetenv(t, "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_TOKEN_CREDENTIALS")
	t.Setenv("PATH", t.TempDir()) // no az, azd or pwsh to run
	c, err := azure.New(s.Workspace(), &azure.Options{Transport: refuse{}})
	must(t, err)
	err = c.Do(ctx(t), azure.Request{Method: "GET", URL: s.Workspace().URL("")}, nil)
	var ce *azure.CredentialError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *azure.CredentialError", err)
	}
	for _, want := range []string{"no credential found", "az login", "AZURE_TENANT_ID", "EnvironmentCredential", "AzureCLICredential"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
}

// refuse is a transport with nowhere to go: the managed identity probe fails at once.
type refuse struct{}

func (refuse) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

func TestAuthorityHostFromEnvironmentReplacesOnlyTheDefault(t *testing.T) {
	s := fakeazure.Start(t)
	newClient(t, s) // sets the service principal
	for _, tc := range []struct {
		name, env string
		cloud     azure.Cloud
		host      string
	}{
		{"unnamed cloud", fakeazure.AuthorityHost, azure.Cloud{}, "login.fakeazure.test"},
		{"public cloud", fakeazure.AuthorityHost, azure.Clouds["public"], "login.fakeazure.test"},
		{"a cloud that names its own", "https://login.microsoftonline.com/",
			azure.Cloud{AuthorityHost: fakeazure.AuthorityHost, ResourceManager: "https://management.azure.com/"}, "login.fakeazure.test"},
		{"no variable", "", azure.Clouds["public"], "login.microsoftonline.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AZURE_AUTHORITY_HOST", tc.env)
			ws := s.Workspace()
			ws.Cloud = tc.cloud
			c, err := azure.New(ws, &azure.Options{Transport: s.Client()})
			must(t, err)
			before := len(s.Requests())
			must(t, c.Do(ctx(t), azure.Request{Method: "GET", URL: ws.URL("")}, nil))
			var hosts []string
			for _, r := range s.Requests()[before:] {
				if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
					hosts = append(hosts, r.Host)
				}
			}
			if len(hosts) != 1 || hosts[0] != tc.host {
				t.Errorf("token asked of %v, want %s", hosts, tc.host)
			}
		})
	}
}

func TestDeleteAndRegenerateKeysFollowLocation(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ws := s.Workspace()
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("onlineEndpoints/ep1"), Body: endpointBody(), LRO: true}, nil))
	var before, after struct{ PrimaryKey, SecondaryKey string }
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ws.URL("onlineEndpoints/ep1/listKeys")}, &before))
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ws.URL("onlineEndpoints/ep1/regenerateKeys"), LRO: true,
		Body: map[string]any{"keyType": "Primary"}}, nil))
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ws.URL("onlineEndpoints/ep1/listKeys")}, &after))
	if after.PrimaryKey == before.PrimaryKey || after.SecondaryKey != before.SecondaryKey {
		t.Errorf("keys before %+v, after %+v: only the primary should change", before, after)
	}
	must(t, c.Do(ctx(t), azure.Request{Method: "DELETE", URL: ws.URL("onlineEndpoints/ep1"), LRO: true}, nil))
	if s.Resource("onlineEndpoints/ep1") != nil {
		t.Error("the endpoint is still there after the DELETE's operation ended")
	}
	var polled int
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, "/mfeOperationResults/") {
			polled++
		}
	}
	if polled < 2 {
		t.Errorf("Location polled %d times", polled)
	}
}

func TestCommandJobOutputsReadBackWithSignedGet(t *testing.T) {
	for _, sas := range []bool{false, true} {
		s, err := fakeazure.New(&fakeazure.Options{SAS: sas, CommandOutputs: map[string][]byte{"metrics.json": []byte(`{"accuracy": 0.75}`)}})
		must(t, err)
		defer s.Close()
		c := newClient(t, s)
		ws := s.Workspace()
		job := map[string]any{"properties": map[string]any{
			"jobType": "Command", "command": "python score.py", "environmentId": "azureml:sklearn-1.5@latest",
			"outputs": map[string]any{"metrics": map[string]any{"jobOutputType": "uri_folder", "mode": "ReadWriteMount",
				"uri": "azureml://datastores/" + fakeazure.Datastore + "/paths/runs/r1/evaluate"}},
		}}
		must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("jobs/ev1"), Body: job}, nil))
		var j jobOut
		for i := 0; i < 10 && j.Properties.Status != "Completed"; i++ {
			must(t, c.Do(ctx(t), azure.Request{Method: "GET", URL: ws.URL("jobs/ev1")}, &j))
		}
		ds, err := azure.DefaultDatastore(ctx(t), c, "evaluate", ws)
		must(t, err)
		sec, err := azure.ListSecrets(ctx(t), c, "evaluate", ws, ds.Name)
		must(t, err)
		r, err := azure.BlobGetRequest("evaluate", ds, &sec, "runs/r1/evaluate/metrics.json", time.Now())
		must(t, err)
		var scores map[string]float64
		must(t, c.Do(ctx(t), r, &scores))
		if scores["accuracy"] != 0.75 {
			t.Errorf("sas=%v: scores = %v", sas, scores)
		}
		r, err = azure.BlobGetRequest("evaluate", ds, &sec, "runs/r1/evaluate/none.json", time.Now())
		must(t, err)
		var ae *azure.Error
		if err := c.Do(ctx(t), r, nil); !errors.As(err, &ae) || ae.Code != "BlobNotFound" {
			t.Errorf("sas=%v: missing blob: %v", sas, err)
		}
	}
}

func TestBatchEndpointInvokedWithAnAzureMLToken(t *testing.T) {
	s := fakeazure.Start(t)
	c := newClient(t, s)
	ws := s.Workspace()
	var ep struct {
		Properties struct {
			ScoringURI string `json:"scoringUri"`
		} `json:"properties"`
	}
	must(t, c.Do(ctx(t), azure.Request{Method: "PUT", URL: ws.URL("batchEndpoints/train"), LRO: true,
		Body: map[string]any{"location": fakeazure.Location, "properties": map[string]any{"authMode": "AADToken"}}}, &ep))
	tok, err := c.Token(ctx(t), azure.MLScope)
	must(t, err)
	var job struct {
		Name       string `json:"name"`
		Properties struct {
			JobType string `json:"jobType"`
		} `json:"properties"`
	}
	must(t, c.Do(ctx(t), azure.Request{Method: "POST", URL: ep.Properties.ScoringURI, Header: map[string]string{"Authorization": "Bearer " + tok},
		Body: map[string]any{"properties": map[string]any{"InputData": map[string]any{"rows": map[string]any{"JobInputType": "Literal", "Value": "5"}}}}}, &job))
	if job.Properties.JobType != "Pipeline" || s.Resource("jobs/"+job.Name) == nil {
		t.Fatalf("job = %+v", job)
	}
}

// TestChildProcessReachesTheFakeThroughEnv runs this test binary again with only
// Server.Env: azcore's default transport must take HTTPS_PROXY and SSL_CERT_FILE, and
// DefaultAzureCredential the AZURE_* variables, as mlflow does under testscript.
func TestChildProcessReachesTheFakeThroughEnv(t *testing.T) {
	if os.Getenv("FAKEAZURE_CHILD") == "1" {
		ws := azure.Workspace{SubscriptionID: fakeazure.SubscriptionID, ResourceGroup: fakeazure.ResourceGroup, Name: fakeazure.WorkspaceName}
		c, err := azure.New(ws, nil) // public cloud, authority host from AZURE_AUTHORITY_HOST
		if err != nil {
			t.Fatal(err)
		}
		var w struct{ Location string }
		if err := c.Do(context.Background(), azure.Request{Method: "GET", URL: ws.URL("")}, &w); err != nil {
			t.Fatal(err)
		}
		if w.Location != fakeazure.Location {
			t.Fatalf("location %q", w.Location)
		}
		return
	}
	s := fakeazure.Start(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcessReachesTheFakeThroughEnv$", "-test.count=1")
	cmd.Env = append([]string{"FAKEAZURE_CHILD=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, s.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var token, arm bool
	for _, r := range s.Requests() {
		token = token || r.Host == "login.fakeazure.test" && strings.HasSuffix(r.Path, "/token") && r.Status == 200
		arm = arm || r.Host == "management.azure.com" && r.Status == 200
	}
	if !token || !arm {
		t.Errorf("token %v, ARM %v:\n%s", token, arm, dump(s))
	}
}
