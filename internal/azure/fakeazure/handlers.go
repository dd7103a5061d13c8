package fakeazure

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/azure"
)

// maxBody bounds what the fake reads of a request: uploads in tests are small.
const maxBody = 64 << 20

// apiVersions are the control-plane versions the fake accepts (AZURE.md §1).
var apiVersions = map[string]bool{"2026-07-01": true, "2025-12-01": true}

// Failure is an injected error answer: the next Times requests (default 1) that match
// Method, Host and Path (substrings; empty matches any) get Status with Azure's error
// document {"error":{"code","message"}} and, if set, a Retry-After header.
type Failure struct {
	Method, Host, Path string
	Status             int
	Code, Message      string
	RetryAfter         string
	Times              int
}

// Fail injects a failure (a 401, a 429 with Retry-After, a 500 before a success, ...).
func (s *Server) Fail(f Failure) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &f)
}

// FailJob makes job name end Failed with this error once it would have run.
func (s *Server) FailJob(name, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failJob[strings.ToLower(name)] = [2]string{code, message}
}

// FailDeployment makes the provisioning of an online deployment end Failed with this error.
func (s *Server) FailDeployment(endpoint, deployment, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failDep[strings.ToLower(endpoint+"/"+deployment)] = [2]string{code, message}
}

// statusWriter keeps the status for the record.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	host := strings.ToLower(r.Host)
	if h, _, err := netSplit(host); err == nil {
		host = h
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.mu.Lock()
		s.requests = append(s.requests, Recorded{Method: r.Method, Host: host, Path: r.URL.Path,
			URL: "https://" + host + r.URL.RequestURI(), Body: body, Status: sw.status})
		s.mu.Unlock()
	}()
	if s.injected(sw, r.Method, host, r.URL.Path) {
		return
	}
	switch {
	case strings.HasSuffix(host, ".blob.core.windows.net"):
		s.blob(sw, r, host, body)
	case strings.HasSuffix(host, ".inference.ml.azure.com"):
		s.score(sw, r, host, body)
	case strings.HasPrefix(r.URL.Path, "/subscriptions/"):
		s.arm(sw, r, body)
	default:
		s.sts(sw, r, host, body)
	}
}

func netSplit(hostport string) (string, string, error) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.Contains(hostport[i:], "]") {
		return hostport, "", fmt.Errorf("no port")
	}
	return hostport[:i], hostport[i+1:], nil
}

func (s *Server) injected(w http.ResponseWriter, method, host, path string) bool {
	s.mu.Lock()
	var f *Failure
	for _, c := range s.failures {
		if c.Times > 0 && (c.Method == "" || c.Method == method) && strings.Contains(host, c.Host) && strings.Contains(path, c.Path) {
			c.Times--
			f = c
			break
		}
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	armError(w, f.Status, f.Code, f.Message)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func armError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("x-ms-error-code", code)
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message}})
}

// ---- token service ----

func (s *Server) sts(w http.ResponseWriter, r *http.Request, host string, body []byte) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		// MSAL asks the public cloud about an authority host it does not know.
		ae, err := url.Parse(r.URL.Query().Get("authorization_endpoint"))
		if err != nil || ae.Host == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_instance", "error_description": "no authorization_endpoint"})
			return
		}
		tenant := strings.Split(strings.Trim(ae.Path, "/"), "/")[0]
		writeJSON(w, http.StatusOK, map[string]any{
			"tenant_discovery_endpoint": "https://" + ae.Host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata": []map[string]any{{"preferred_network": ae.Host, "preferred_cache": ae.Host,
				"aliases": []string{ae.Host}}},
		})
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v2.0" && parts[3] == "openid-configuration":
		base := "https://" + host + "/" + parts[0]
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[3] == "token":
		s.token(w, parts[0], body)
	default:
		s.problem("token service: no route for %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not_found", "error_description": r.URL.Path})
	}
}

func (s *Server) token(w http.ResponseWriter, tenant string, body []byte) {
	f, err := url.ParseQuery(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	deny := func(code, desc string) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": code, "error_description": desc})
	}
	switch {
	case tenant != TenantID:
		deny("invalid_tenant", "AADSTS90002: Tenant '"+tenant+"' not found.")
	case f.Get("grant_type") != "client_credentials":
		deny("unsupported_grant_type", "only client_credentials is played by the fake")
	case f.Get("client_id") != ClientID:
		deny("unauthorized_client", "AADSTS700016: Application with identifier '"+f.Get("client_id")+"' was not found.")
	case f.Get("client_secret") != ClientSecret:
		deny("invalid_client", "AADSTS7000215: Invalid client secret provided.")
	default:
		scope := f.Get("scope")
		s.mu.Lock()
		s.seq++
		tok := fmt.Sprintf("fake-token-%d", s.seq)
		s.tokens[tok] = scope
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": tok})
	}
}

// ---- Blob Storage ----

func storageError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>", code, msg)
}

// sasToken is the SAS listSecrets gives when Options.SAS is set.
const sasToken = "sv=2021-08-06&ss=b&srt=co&sp=rwc&se=2099-01-01T00:00:00Z&sig=ZmFrZS1zYXMtc2lnbmF0dXJl"

func (s *Server) blob(w http.ResponseWriter, r *http.Request, host string, body []byte) {
	account := strings.TrimSuffix(host, ".blob.core.windows.net")
	path := strings.TrimPrefix(r.URL.Path, "/")
	if r.Method != http.MethodPut && r.Method != http.MethodGet && r.Method != http.MethodDelete {
		storageError(w, http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "the fake takes PUT, GET and DELETE Blob only")
		return
	}
	if account != StorageAccount || !strings.HasPrefix(path, Container+"/") {
		storageError(w, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	if r.Method == http.MethodPut && r.Header.Get("x-ms-blob-type") != "BlockBlob" {
		storageError(w, http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.")
		return
	}
	if q := r.URL.Query(); q.Get("sig") != "" {
		if r.URL.RawQuery != sasToken {
			storageError(w, http.StatusForbidden, "AuthenticationFailed", "Signature did not match the SAS the fake issued.")
			return
		}
	} else {
		auth := r.Header.Get("Authorization")
		prefix := "SharedKey " + StorageAccount + ":"
		if !strings.HasPrefix(auth, prefix) {
			storageError(w, http.StatusForbidden, "AuthenticationFailed", "No SharedKey or SAS in the request.")
			return
		}
		hdr := map[string]string{}
		for k, v := range r.Header {
			hdr[k] = strings.Join(v, ",")
		}
		delete(hdr, "Content-Length")
		key, _ := base64.StdEncoding.DecodeString(AccountKey)
		want, err := azure.SharedKeySignature(StorageAccount, key, r.Method, "https://"+host+r.URL.RequestURI(), hdr, len(body))
		if err != nil || want != strings.TrimPrefix(auth, prefix) {
			storageError(w, http.StatusForbidden, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
			return
		}
		if d, err := http.ParseTime(r.Header.Get("x-ms-date")); err != nil || time.Since(d).Abs() > 15*time.Minute {
			storageError(w, http.StatusForbidden, "AuthenticationFailed", "x-ms-date is missing or more than 15 minutes away.")
			return
		}
	}
	name := strings.TrimPrefix(path, Container+"/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method == http.MethodDelete {
		if _, ok := s.blobs[name]; !ok {
			storageError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		delete(s.blobs, name)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if r.Method == http.MethodGet {
		b, ok := s.blobs[name]
		if !ok {
			storageError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
		return
	}
	s.blobs[name] = body
	w.Header().Set("ETag", fmt.Sprintf("\"0x%X\"", len(body)))
	w.WriteHeader(http.StatusCreated)
}

// ---- scoring endpoints ----

// score answers a scoring request with the endpoint's key. The answer is a fixed shape, not
// a model's: 0 for every row, in the format of the request (AZURE.md §4): an array for
// input_data, {"Results"} for Inputs, a JSON string {"result"} for data.
func (s *Server) score(w http.ResponseWriter, r *http.Request, host string, body []byte) {
	ep := strings.TrimSuffix(host, "."+Location+".inference.ml.azure.com")
	if r.URL.Path == "/jobs" && r.Method == http.MethodPost && s.Resource("batchEndpoints/"+ep) != nil {
		s.batchInvoke(w, r, ep, body)
		return
	}
	s.mu.Lock()
	keys, ok := s.keys[strings.ToLower(ep)]
	s.mu.Unlock()
	e := s.Resource("onlineEndpoints/" + ep)
	if !ok || e == nil || r.URL.Path != "/score" || r.Method != http.MethodPost {
		http.Error(w, "no such endpoint or route", http.StatusNotFound)
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if auth == "" || (auth != keys[0] && auth != keys[1]) {
		http.Error(w, "key auth failed", http.StatusUnauthorized)
		return
	}
	dep := r.Header.Get("azureml-model-deployment")
	if dep == "" {
		dep = s.trafficDeployment(e)
	}
	d := s.Resource("onlineEndpoints/" + ep + "/deployments/" + dep)
	if d == nil || prop(d, "provisioningState") != "Succeeded" {
		http.Error(w, "no deployment takes traffic on this endpoint", http.StatusServiceUnavailable)
		return
	}
	var in struct {
		InputData *struct {
			Data []json.RawMessage `json:"data"`
		} `json:"input_data"`
		Inputs *struct {
			Data []json.RawMessage `json:"data"`
		} `json:"Inputs"`
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.appendLog(ep, dep, "scoring error: "+err.Error())
		http.Error(w, "request body is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	var out any
	var n int
	switch {
	case in.InputData != nil:
		n = len(in.InputData.Data)
		out = make([]int, n)
	case in.Inputs != nil:
		n = len(in.Inputs.Data)
		out = map[string]any{"Results": make([]int, n)}
	case in.Data != nil:
		n = len(in.Data)
		b, _ := json.Marshal(map[string]any{"result": make([]int, n)})
		out = string(b)
	default:
		http.Error(w, `expected input_data, Inputs or data`, http.StatusBadRequest)
		return
	}
	s.appendLog(ep, dep, fmt.Sprintf("%s POST /score 200 rows=%d", time.Now().UTC().Format(time.RFC3339), n))
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) trafficDeployment(e map[string]any) string {
	p, _ := e["properties"].(map[string]any)
	t, _ := p["traffic"].(map[string]any)
	best, max := "", -1.0
	for d, v := range t {
		if f, _ := v.(float64); f > max || (f == max && d < best) {
			best, max = d, f
		}
	}
	return best
}

func (s *Server) appendLog(ep, dep, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(ep + "/" + dep)
	s.logs[k] = append(s.logs[k], line)
}

func prop(res map[string]any, name string) string {
	p, _ := res["properties"].(map[string]any)
	v, _ := p[name].(string)
	return v
}
