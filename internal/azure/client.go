package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// moduleName and moduleVersion go into the User-Agent azcore's telemetry policy sends.
const (
	moduleName    = "github.com/mlflow-go/mlflow/internal/azure"
	moduleVersion = "v0.1.0"
)

// Options tune a Client; the zero value is what the CLI uses.
type Options struct {
	// Transport sends the HTTP requests of the credential, ARM, Blob Storage and scoring
	// calls alike (nil: azcore's default, which honours HTTPS_PROXY and SSL_CERT_FILE).
	Transport policy.Transporter
	// Retry overrides azcore's retry settings (zero fields keep azcore's defaults: three
	// retries of 408, 429, 500, 502, 503 and 504, Retry-After honoured).
	Retry policy.RetryOptions
	// PollFrequency is the wait between polls of a long-running operation when Azure sends
	// no Retry-After (default 10s; azcore refuses under 1s outside a test binary).
	PollFrequency time.Duration
}

// Client sends Requests to Azure. ARM requests carry an azidentity token for the
// workspace's cloud; requests with their own Authorization header (a scoring key, a
// Storage SharedKey) and requests to any other host go through a pipeline without it, so
// the ARM token never leaves the Resource Manager host.
type Client struct {
	cred      credential
	ws        Workspace
	armHost   string
	arm       runtime.Pipeline
	plain     runtime.Pipeline
	pollEvery time.Duration
}

// New returns a Client for ws with azidentity.DefaultAzureCredential for ws.Cloud
// (opts may carry a Transport and retry settings for tests). No request is sent: a missing
// credential shows on the first call, as a *CredentialError.
func New(ws Workspace, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	authority, rm := authorityHost(ws.Cloud), resourceManager(ws.Cloud)
	armURL, err := url.Parse(rm)
	if err != nil || armURL.Scheme != "https" || armURL.Host == "" {
		return nil, fmt.Errorf("azureml cloud: resource_manager %q is not an https URL", ws.Cloud.ResourceManager)
	}
	if u, err := url.Parse(authority); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("azureml cloud: authority_host %q is not an https URL", authority)
	}
	conf := cloud.Configuration{
		ActiveDirectoryAuthorityHost: authority,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: strings.TrimSuffix(rm, "/"), Audience: audience(rm)},
		},
	}
	co := policy.ClientOptions{Cloud: conf, Retry: opts.Retry}
	if opts.Transport != nil {
		co.Transport = opts.Transport
	}
	dac, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co})
	if err != nil { // a malformed AZURE_* setting, such as an unknown AZURE_TOKEN_CREDENTIALS
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	ac, err := arm.NewClient(moduleName, moduleVersion, credential{dac}, &arm.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	poll := opts.PollFrequency
	if poll == 0 {
		poll = 10 * time.Second
	}
	return &Client{
		cred:      credential{dac},
		ws:        ws,
		armHost:   armURL.Host,
		arm:       ac.Pipeline(),
		plain:     runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{}, &co),
		pollEvery: poll,
	}, nil
}

// MLScope is the scope of Entra tokens for Azure ML's data plane (batch endpoint
// invocation, AADToken online endpoints).
const MLScope = "https://ml.azure.com/.default"

// Token gets an Entra token for scope (MLScope for a batch endpoint) from the client's
// credential, for a caller that sets "Authorization: Bearer TOKEN" on a Request itself.
func (c *Client) Token(ctx context.Context, scope string) (string, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return "", err
	}
	return tok.Token, nil
}

// Workspace is the workspace the client was made for.
func (c *Client) Workspace() Workspace { return c.ws }

// publicAuthority is where azidentity looks when nothing else is said.
var publicAuthority = Clouds["public"].AuthorityHost

// authorityHost is the cloud's Entra ID host. As in azidentity, AZURE_AUTHORITY_HOST
// replaces the default (public) one but not a host the workflow names for another cloud.
func authorityHost(c Cloud) string {
	if c.AuthorityHost == "" || c.AuthorityHost == publicAuthority {
		if env := os.Getenv("AZURE_AUTHORITY_HOST"); env != "" {
			return env
		}
		return publicAuthority
	}
	return c.AuthorityHost
}

func resourceManager(c Cloud) string {
	if c.ResourceManager == "" {
		return Clouds["public"].ResourceManager
	}
	return c.ResourceManager
}

// audience is the token audience of a Resource Manager endpoint: the named clouds have
// their own (azcore/cloud's values); any other cloud is taken to use its endpoint.
func audience(rm string) string {
	for _, c := range []cloud.Configuration{cloud.AzurePublic, cloud.AzureChina, cloud.AzureGovernment} {
		s := c.Services[cloud.ResourceManager]
		if strings.TrimSuffix(s.Endpoint, "/") == strings.TrimSuffix(rm, "/") {
			return s.Audience
		}
	}
	return strings.TrimSuffix(rm, "/")
}

// CredentialError is a failure to get a token: no credential found, or one refused.
type CredentialError struct{ Err error }

func (e *CredentialError) Error() string {
	var failed *azidentity.AuthenticationFailedError
	if errors.As(e.Err, &failed) {
		return "azure: authentication failed: " + e.Err.Error()
	}
	return "azure: no credential found. Log in with `az login`, or set AZURE_TENANT_ID, " +
		"AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal), or run where a " +
		"managed or workload identity is available. What was tried:\n" + e.Err.Error()
}

func (e *CredentialError) Unwrap() error { return e.Err }

// credential marks the errors of the token credential so that Do can tell them from
// transport errors (the bearer policy returns them unwrapped).
type credential struct{ azcore.TokenCredential }

func (c credential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, o)
	if err != nil {
		return tok, &CredentialError{Err: err}
	}
	return tok, nil
}

// Do sends r and decodes the JSON answer into out (nil: discarded). See Request for how
// the request is authenticated.
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	u, err := url.Parse(r.URL)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%s: %s %q: not an absolute URL", r.Step, r.Method, r.URL)
	}
	pl := c.plain
	_, ownAuth := r.Header["Authorization"]
	if !ownAuth && u.Host == c.armHost {
		pl = c.arm
	}
	req, err := runtime.NewRequest(ctx, r.Method, r.URL)
	if err != nil {
		return err
	}
	for k, v := range r.Header {
		req.Raw().Header.Set(k, v)
	}
	if err := setBody(req, r); err != nil {
		return fmt.Errorf("%s: %s %s: %w", r.Step, r.Method, stripQuery(r.URL), err)
	}
	resp, err := pl.Do(req)
	if err != nil {
		var ce *CredentialError
		if errors.As(err, &ce) {
			return ce
		}
		return fmt.Errorf("%s %s: %w", r.Method, stripQuery(r.URL), err)
	}
	if resp.StatusCode >= 300 {
		return responseError(resp, r.Method, r.URL)
	}
	if r.LRO && (resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusAccepted ||
		resp.Header.Get("Azure-AsyncOperation") != "" || resp.Header.Get("Location") != "") {
		return c.poll(ctx, pl, resp, r, out)
	}
	return decode(resp, out)
}

// poll follows a long-running operation with azcore's poller. A PUT's result is read from
// the resource itself (Azure ML's PUTs answer Azure-AsyncOperation and the operation's
// status document is not the resource); a POST or DELETE has its result at Location.
func (c *Client) poll(ctx context.Context, pl runtime.Pipeline, resp *http.Response, r Request, out any) error {
	via := runtime.FinalStateViaLocation
	if r.Method == http.MethodPut || r.Method == http.MethodPatch {
		via = runtime.FinalStateViaOriginalURI
	}
	p, err := runtime.NewPoller(resp, pl, &runtime.NewPollerOptions[json.RawMessage]{FinalStateVia: via})
	if err != nil {
		return c.lroError(err, r)
	}
	res, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: c.pollEvery})
	if err != nil {
		return c.lroError(err, r)
	}
	if out == nil || len(res) == 0 {
		return nil
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", r.Method, stripQuery(r.URL), err)
	}
	return nil
}

// lroError names the resource the operation was about, not the operation's status URL.
func (c *Client) lroError(err error, r Request) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.RawResponse != nil {
		e := responseError(re.RawResponse, r.Method, r.URL).(*Error)
		if e.Code == "" {
			e.Code = re.ErrorCode
		}
		return e
	}
	var ce *CredentialError
	if errors.As(err, &ce) {
		return ce
	}
	return fmt.Errorf("%s %s: %w", r.Method, stripQuery(r.URL), err)
}

func setBody(req *policy.Request, r Request) error {
	switch b := r.Body.(type) {
	case nil:
		return nil
	case []byte:
		return req.SetBody(streaming.NopCloser(bytes.NewReader(b)), contentType(r, "application/octet-stream"))
	case io.Reader:
		// The retry policy needs to rewind the body, so it is read whole first.
		data, err := io.ReadAll(b)
		if err != nil {
			return fmt.Errorf("reading the request body: %w", err)
		}
		return req.SetBody(streaming.NopCloser(bytes.NewReader(data)), contentType(r, "application/octet-stream"))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("encoding the request body: %w", err)
		}
		return req.SetBody(streaming.NopCloser(bytes.NewReader(data)), contentType(r, "application/json"))
	}
}

func contentType(r Request, def string) string {
	for k, v := range r.Header {
		if strings.EqualFold(k, "Content-Type") {
			return v
		}
	}
	return def
}

func decode(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	data, err := runtime.Payload(resp)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", resp.Request.Method, stripQuery(resp.Request.URL.String()), err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if p, ok := out.(*[]byte); ok {
		*p = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", resp.Request.Method, stripQuery(resp.Request.URL.String()), err)
	}
	return nil
}

// responseError reads Azure's error document: ARM's {"error":{"code","message"}}, an
// operation's {"status":"Failed","error":{...}}, Storage's XML <Code>/<Message>, or a
// scoring endpoint's free text.
func responseError(resp *http.Response, method, u string) error {
	data, _ := runtime.Payload(resp)
	e := &Error{Status: resp.StatusCode, Method: method, URL: u}
	var doc struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	switch {
	case json.Unmarshal(data, &doc) == nil && doc.Error != nil:
		e.Code, e.Message = doc.Error.Code, doc.Error.Message
	case json.Unmarshal(data, &doc) == nil && (doc.Code != "" || doc.Message != ""):
		e.Code, e.Message = doc.Code, doc.Message
	default:
		e.Code = resp.Header.Get("x-ms-error-code")
		e.Message = xmlElement(string(data), "Message")
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
			if len(e.Message) > 500 {
				e.Message = e.Message[:500] + "..."
			}
		}
	}
	if e.Code == "" {
		e.Code = resp.Header.Get("x-ms-error-code")
	}
	return e
}

func xmlElement(s, name string) string {
	i := strings.Index(s, "<"+name+">")
	j := strings.Index(s, "</"+name+">")
	if i < 0 || j < i {
		return ""
	}
	return strings.TrimSpace(s[i+len(name)+2 : j])
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
