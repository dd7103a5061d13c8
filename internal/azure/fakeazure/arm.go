package fakeazure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const provider = "Microsoft.MachineLearningServices"

// workspacePath is W of AZURE.md §1, as the fake's workspace has it.
var workspacePath = "/subscriptions/" + SubscriptionID + "/resourceGroups/" + ResourceGroup +
	"/providers/" + provider + "/workspaces/" + WorkspaceName

// operation is a long-running operation: InProgress for a number of polls, then done.
type operation struct {
	remaining int
	failed    *[2]string // code, message
	done      func()     // run once, when the operation ends (under s.mu)
	finished  bool
}

// job is a job's place in its state machine, one step per GET.
type job struct {
	states   []string
	i        int
	automl   bool
	command  bool
	pipeline bool
}

var jobStates = []string{"NotStarted", "Queued", "Preparing", "Running", "Finalizing", "Completed"}

// key is the lower-case path of a resource under the workspace: ARM paths ignore case.
func (s *Server) key(sub string) string { return strings.ToLower(strings.Trim(sub, "/")) }

func (s *Server) seedWorkspace() {
	s.res[""] = map[string]any{
		"id": workspacePath, "name": WorkspaceName, "type": provider + "/workspaces", "location": Location,
		"identity":   map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"friendlyName": WorkspaceName, "discoveryUrl": "https://" + Location + ".api.azureml.ms/discovery", "provisioningState": "Succeeded"},
	}
	s.res["datastores/"+Datastore] = map[string]any{
		"id": workspacePath + "/datastores/" + Datastore, "name": Datastore, "type": provider + "/workspaces/datastores",
		"properties": map[string]any{"datastoreType": "AzureBlob", "isDefault": true, "accountName": StorageAccount,
			"containerName": Container, "endpoint": "core.windows.net", "protocol": "https",
			"credentials": map[string]any{"credentialsType": "AccountKey"}},
	}
}

// armURL is the absolute URL of an ARM path with the api-version.
func armURL(path string) string {
	return "https://management.azure.com" + path + "?api-version=2026-07-01"
}

func (s *Server) arm(w http.ResponseWriter, r *http.Request, body []byte) {
	if v := r.URL.Query().Get("api-version"); !apiVersions[v] {
		armError(w, http.StatusBadRequest, "InvalidApiVersionParameter",
			fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '2026-07-01,2025-12-01'.", v))
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	scope, ok := s.tokens[auth]
	s.mu.Unlock()
	if !ok {
		armError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	}
	if !strings.Contains(scope, "management.") {
		armError(w, http.StatusUnauthorized, "InvalidAuthenticationTokenAudience", "The access token has been obtained for the wrong audience or resource '"+scope+"'.")
		return
	}
	p := r.URL.Path
	opsPrefix := strings.ToLower("/subscriptions/" + SubscriptionID + "/providers/" + provider + "/locations/" + Location + "/")
	if lp := strings.ToLower(p); strings.HasPrefix(lp, opsPrefix) {
		s.operationStatus(w, r, strings.Split(strings.TrimPrefix(p, p[:len(opsPrefix)]), "/"))
		return
	}
	if !strings.HasPrefix(strings.ToLower(p), strings.ToLower(workspacePath)) {
		armError(w, http.StatusNotFound, "ResourceNotFound", "The Resource '"+p+"' was not found (the fake has one workspace, "+workspacePath+").")
		return
	}
	sub := strings.Trim(p[len(workspacePath):], "/")
	seg := strings.Split(sub, "/")
	if sub == "" {
		seg = nil
	}
	lower := make([]string, len(seg))
	for i, x := range seg {
		lower[i] = strings.ToLower(x)
	}
	m := r.Method
	route := func(method string, pattern ...string) bool {
		if m != method || len(pattern) != len(lower) {
			return false
		}
		for i, x := range pattern {
			if x != "*" && strings.ToLower(x) != lower[i] {
				return false
			}
		}
		return true
	}
	switch {
	case route("GET"):
		s.get(w, "")
	case route("GET", "datastores"):
		s.list(w, "datastores", func(v map[string]any) bool {
			return r.URL.Query().Get("isDefault") != "true" || v["properties"].(map[string]any)["isDefault"] == true
		})
	case route("POST", "datastores", "*", "listSecrets"):
		if s.Resource("datastores/"+seg[1]) == nil {
			notFound(w, sub)
		} else if s.opts.SAS {
			writeJSON(w, http.StatusOK, map[string]any{"secretsType": "Sas", "sasToken": sasToken})
		} else {
			writeJSON(w, http.StatusOK, map[string]any{"secretsType": "AccountKey", "key": AccountKey})
		}
	case route("PUT", "data", "*"):
		s.put(w, r, sub, body, "DataContainer", nil)
	case route("PUT", "data", "*", "versions", "*"):
		s.put(w, r, sub, body, "DataVersionBase", nil)
	case route("PUT", "models", "*"):
		s.put(w, r, sub, body, "ModelContainer", nil)
	case route("PUT", "models", "*", "versions", "*"):
		s.put(w, r, sub, body, "ModelVersion", nil)
	case route("PUT", "components", "*", "versions", "*"):
		if s.refuseShape(w, r.Method, sub, body, func(v map[string]any) []string {
			props, _ := v["properties"].(map[string]any)
			spec, _ := props["componentSpec"].(map[string]any)
			return s.checkComponentSpec(spec)
		}) {
			return
		}
		s.put(w, r, sub, body, "ComponentVersion", nil)
	case route("PUT", "jobs", "*"):
		s.putJob(w, r, sub, seg[1], body)
	case route("GET", "jobs", "*"):
		s.getJob(w, sub)
	case route("POST", "jobs", "*", "cancel"):
		s.cancelJob(w, seg[1])
	case route("PUT", "onlineEndpoints", "*"), route("PUT", "batchEndpoints", "*"):
		def := "OnlineEndpoint"
		if lower[0] == "batchendpoints" {
			def = "BatchEndpoint"
		}
		s.putTracked(w, r, sub, body, def, nil)
	case route("PUT", "onlineEndpoints", "*", "deployments", "*"):
		s.putDeployment(w, r, sub, seg[1], seg[3], body)
	case route("PUT", "batchEndpoints", "*", "deployments", "*"):
		if s.Resource(strings.Join(seg[:2], "/")) == nil {
			notFound(w, strings.Join(seg[:2], "/"))
			return
		}
		s.putTracked(w, r, sub, body, "BatchDeployment", nil)
	case route("PUT", "schedules", "*"):
		if s.refuseShape(w, r.Method, sub, body, func(v map[string]any) []string {
			props, _ := v["properties"].(map[string]any)
			action, _ := props["action"].(map[string]any)
			def, _ := action["jobDefinition"].(map[string]any)
			if jt, _ := def["jobType"].(string); !strings.EqualFold(jt, "Pipeline") {
				return nil
			}
			return prefixed("properties.action.jobDefinition.", s.checkPipelineJob(def))
		}) {
			return
		}
		s.putTracked(w, r, sub, body, "Schedule", nil)
	case route("POST", "onlineEndpoints", "*", "listKeys"):
		s.mu.Lock()
		k, ok := s.keys[lower[1]]
		s.mu.Unlock()
		if !ok {
			notFound(w, "onlineEndpoints/"+seg[1])
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"primaryKey": k[0], "secondaryKey": k[1]})
	case route("POST", "onlineEndpoints", "*", "regenerateKeys"):
		s.regenerateKeys(w, seg[1], body)
	case route("POST", "onlineEndpoints", "*", "token"):
		if s.Resource("onlineEndpoints/"+seg[1]) == nil {
			notFound(w, "onlineEndpoints/"+seg[1])
			return
		}
		now := time.Now()
		writeJSON(w, http.StatusOK, map[string]any{"accessToken": "fake-aml-token-" + seg[1], "tokenType": "Bearer",
			"expiryTimeUtc": now.Add(time.Hour).Unix(), "refreshAfterTimeUtc": now.Add(30 * time.Minute).Unix()})
	case route("POST", "onlineEndpoints", "*", "deployments", "*", "getLogs"):
		s.getLogs(w, seg[1], seg[3], body)
	case route("DELETE", "onlineEndpoints", "*"), route("DELETE", "onlineEndpoints", "*", "deployments", "*"),
		route("DELETE", "batchEndpoints", "*"), route("DELETE", "batchEndpoints", "*", "deployments", "*"),
		route("DELETE", "schedules", "*"), route("DELETE", "jobs", "*"):
		s.delete(w, sub)
	case route("DELETE", "data", "*", "versions", "*"), route("DELETE", "models", "*", "versions", "*"),
		route("DELETE", "components", "*", "versions", "*"):
		// Versions are deleted at once: 200, or 204 when there was none.
		s.mu.Lock()
		_, ok := s.res[s.key(sub)]
		delete(s.res, s.key(sub))
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusOK)
	case m == http.MethodGet && len(seg)%2 == 0:
		s.get(w, sub)
	case m == http.MethodGet:
		s.list(w, sub, nil)
	default:
		s.problem("ARM: no route for %s %s", m, sub)
		armError(w, http.StatusNotFound, "NoRegisteredProviderFound", "The fake has no route for "+m+" "+sub)
	}
}

func notFound(w http.ResponseWriter, sub string) {
	armError(w, http.StatusNotFound, "ResourceNotFound",
		"The Resource '"+provider+"/workspaces/"+WorkspaceName+"/"+sub+"' under resource group '"+ResourceGroup+"' was not found.")
}

func (s *Server) get(w http.ResponseWriter, sub string) {
	s.mu.Lock()
	v := s.res[s.key(sub)]
	b, _ := json.Marshal(v)
	s.mu.Unlock()
	if v == nil {
		notFound(w, sub)
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// writeRaw answers JSON marshalled under s.mu: stored resources change as operations end.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) list(w http.ResponseWriter, sub string, keep func(map[string]any) bool) {
	prefix := s.key(sub) + "/"
	var out []map[string]any
	s.mu.Lock()
	for k, v := range s.res {
		if strings.HasPrefix(k, prefix) && !strings.Contains(k[len(prefix):], "/") && (keep == nil || keep(v)) {
			out = append(out, v)
		}
	}
	if out == nil {
		out = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"value": out})
	s.mu.Unlock()
	writeRaw(w, http.StatusOK, b)
}

// decodeChecked validates body against the spec definition def and decodes it; on failure
// it has answered 400 and recorded the problem.
func (s *Server) decodeChecked(w http.ResponseWriter, method, sub string, body []byte, def string) (map[string]any, bool) {
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		s.problem("%s %s: body is not a JSON object: %v", method, sub, err)
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return nil, false
	}
	if errs := Validate(def, v); len(errs) > 0 {
		msg := strings.Join(errs, "; ")
		s.problem("%s %s: body does not match %s: %s", method, sub, def, msg)
		armError(w, http.StatusBadRequest, "UserError", def+": "+msg)
		return nil, false
	}
	return v, true
}

// stored builds the resource the fake keeps and answers from a request body.
func (s *Server) stored(sub string, v map[string]any) map[string]any {
	seg := strings.Split(sub, "/")
	types := make([]string, 0, len(seg)/2)
	for i := 0; i < len(seg); i += 2 {
		types = append(types, seg[i])
	}
	out := map[string]any{
		"id": workspacePath + "/" + sub, "name": seg[len(seg)-1],
		"type":       provider + "/workspaces/" + strings.Join(types, "/"),
		"systemData": map[string]any{"createdBy": ClientID, "createdByType": "Application", "createdAt": time.Now().UTC().Format(time.RFC3339)},
	}
	for k, x := range v {
		if k != "id" && k != "name" && k != "type" && k != "systemData" {
			out[k] = x
		}
	}
	if _, ok := out["properties"].(map[string]any); !ok {
		out["properties"] = map[string]any{}
	}
	return out
}

// put is a synchronous create-or-update: 201 the first time, 200 after.
func (s *Server) put(w http.ResponseWriter, r *http.Request, sub string, body []byte, def string, edit func(map[string]any)) {
	v, ok := s.decodeChecked(w, r.Method, sub, body, def)
	if !ok {
		return
	}
	res := s.stored(sub, v)
	if edit != nil {
		edit(res)
	}
	s.mu.Lock()
	_, existed := s.res[s.key(sub)]
	s.res[s.key(sub)] = res
	b, _ := json.Marshal(res)
	s.mu.Unlock()
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeRaw(w, status, b)
}

// startOp registers a long-running operation and returns its id.
func (s *Server) startOp(failed *[2]string, done func()) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("op-%d", s.seq)
	s.ops[id] = &operation{remaining: s.opts.Polls, failed: failed, done: done}
	return id
}

func opsPath(kind, id string) string {
	return "/subscriptions/" + SubscriptionID + "/providers/" + provider + "/locations/" + Location + "/" + kind + "/" + id
}

// pollHeaders are the headers of an answer that starts or continues an operation; the
// short Retry-After-Ms keeps polling fast where azcore would refuse a sub-second
// frequency (outside a test binary).
func pollHeaders(w http.ResponseWriter, header, kind, id string) {
	w.Header().Set(header, armURL(opsPath(kind, id)))
	w.Header().Set("Retry-After-Ms", "5")
}

// putTracked is a PUT that provisions: 201 + Azure-AsyncOperation, provisioningState
// Creating (Updating), Succeeded once the operation ends (or Failed).
func (s *Server) putTracked(w http.ResponseWriter, r *http.Request, sub string, body []byte, def string, failed *[2]string) {
	v, ok := s.decodeChecked(w, r.Method, sub, body, def)
	if !ok {
		return
	}
	res := s.stored(sub, v)
	props := res["properties"].(map[string]any)
	seg := strings.Split(sub, "/")
	isOnlineEndpoint := len(seg) == 2 && strings.EqualFold(seg[0], "onlineEndpoints")
	if isOnlineEndpoint || (len(seg) == 2 && strings.EqualFold(seg[0], "batchEndpoints")) {
		if isOnlineEndpoint {
			props["scoringUri"] = "https://" + strings.ToLower(seg[1]) + "." + Location + ".inference.ml.azure.com/score"
			props["swaggerUri"] = "https://" + strings.ToLower(seg[1]) + "." + Location + ".inference.ml.azure.com/swagger.json"
		} else {
			props["scoringUri"] = "https://" + strings.ToLower(seg[1]) + "." + Location + ".inference.ml.azure.com/jobs"
		}
	}
	s.mu.Lock()
	old, existed := s.res[s.key(sub)]
	state := "Creating"
	if existed {
		state = "Updating"
		if isOnlineEndpoint { // keys and URIs stay with the endpoint
			op := old["properties"].(map[string]any)
			props["scoringUri"], props["swaggerUri"] = op["scoringUri"], op["swaggerUri"]
		}
	}
	props["provisioningState"] = state
	s.res[s.key(sub)] = res
	if isOnlineEndpoint {
		if _, ok := s.keys[strings.ToLower(seg[1])]; !ok {
			s.seq++
			s.keys[strings.ToLower(seg[1])] = [2]string{fmt.Sprintf("fake-primary-key-%d", s.seq), fmt.Sprintf("fake-secondary-key-%d", s.seq)}
		}
	}
	s.mu.Unlock()
	id := s.startOp(failed, func() {
		if failed != nil {
			props["provisioningState"] = "Failed"
		} else {
			props["provisioningState"] = "Succeeded"
		}
	})
	pollHeaders(w, "Azure-AsyncOperation", "mfeOperationsStatus", id)
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	s.mu.Lock()
	b, _ := json.Marshal(res)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) putDeployment(w http.ResponseWriter, r *http.Request, sub, ep, dep string, body []byte) {
	if s.Resource("onlineEndpoints/"+ep) == nil {
		notFound(w, "onlineEndpoints/"+ep)
		return
	}
	var v struct {
		Properties struct {
			Model string `json:"model"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(body, &v)
	if m := v.Properties.Model; strings.HasPrefix(strings.ToLower(m), strings.ToLower(workspacePath)+"/") {
		if s.Resource(m[len(workspacePath)+1:]) == nil {
			armError(w, http.StatusBadRequest, "UserError", "properties.model: model '"+m+"' was not found in workspace "+WorkspaceName+".")
			return
		}
	}
	s.mu.Lock()
	f, ok := s.failDep[strings.ToLower(ep+"/"+dep)]
	s.mu.Unlock()
	var failed *[2]string
	if ok {
		failed = &f
	}
	s.putTracked(w, r, sub, body, "OnlineDeployment", failed)
	s.appendLog(ep, dep, "deployment "+dep+" created")
}

// operationStatus serves the polling URLs: mfeOperationsStatus/{id} (Azure-AsyncOperation:
// {"status"}) and mfeOperationResults/{id} (Location: 202 until done, then 204).
func (s *Server) operationStatus(w http.ResponseWriter, r *http.Request, seg []string) {
	if len(seg) != 2 || r.Method != http.MethodGet {
		s.problem("ARM: no operation route for %s %s", r.Method, r.URL.Path)
		armError(w, http.StatusNotFound, "NotFound", "no such operation route")
		return
	}
	s.mu.Lock()
	op := s.ops[seg[1]]
	if op == nil {
		s.mu.Unlock()
		armError(w, http.StatusNotFound, "NotFound", "no operation "+seg[1])
		return
	}
	running := op.remaining > 0
	if running {
		op.remaining--
	} else if !op.finished {
		op.finished = true
		if op.done != nil {
			op.done()
		}
	}
	s.mu.Unlock()
	switch strings.ToLower(seg[0]) {
	case "mfeoperationsstatus":
		w.Header().Set("Retry-After-Ms", "5")
		switch {
		case running:
			writeJSON(w, http.StatusOK, map[string]any{"name": seg[1], "status": "InProgress"})
		case op.failed != nil:
			writeJSON(w, http.StatusOK, map[string]any{"name": seg[1], "status": "Failed",
				"error": map[string]any{"code": op.failed[0], "message": op.failed[1]}})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"name": seg[1], "status": "Succeeded"})
		}
	case "mfeoperationresults":
		if running {
			pollHeaders(w, "Location", "mfeOperationResults", seg[1])
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		armError(w, http.StatusNotFound, "NotFound", "no operation kind "+seg[0])
	}
}

// delete starts an LRO-L delete: 202 + Location; the resource (and what sits under it)
// goes when the operation ends.
func (s *Server) delete(w http.ResponseWriter, sub string) {
	k := s.key(sub)
	s.mu.Lock()
	_, ok := s.res[k]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	id := s.startOp(nil, func() {
		for rk := range s.res {
			if rk == k || strings.HasPrefix(rk, k+"/") {
				delete(s.res, rk)
			}
		}
		if seg := strings.Split(k, "/"); len(seg) == 2 && seg[0] == "onlineendpoints" {
			delete(s.keys, seg[1])
		}
	})
	pollHeaders(w, "Location", "mfeOperationResults", id)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) regenerateKeys(w http.ResponseWriter, ep string, body []byte) {
	v, ok := s.decodeChecked(w, http.MethodPost, "onlineEndpoints/"+ep+"/regenerateKeys", body, "RegenerateEndpointKeysRequest")
	if !ok {
		return
	}
	s.mu.Lock()
	_, exists := s.keys[strings.ToLower(ep)]
	s.mu.Unlock()
	if !exists {
		notFound(w, "onlineEndpoints/"+ep)
		return
	}
	kt, _ := v["keyType"].(string)
	val, _ := v["keyValue"].(string)
	id := s.startOp(nil, func() {
		k := s.keys[strings.ToLower(ep)]
		s.seq++
		if val == "" {
			val = fmt.Sprintf("fake-regenerated-key-%d", s.seq)
		}
		if strings.EqualFold(kt, "Secondary") {
			k[1] = val
		} else {
			k[0] = val
		}
		s.keys[strings.ToLower(ep)] = k
	})
	pollHeaders(w, "Location", "mfeOperationResults", id)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) getLogs(w http.ResponseWriter, ep, dep string, body []byte) {
	sub := "onlineEndpoints/" + ep + "/deployments/" + dep
	v, ok := s.decodeChecked(w, http.MethodPost, sub+"/getLogs", body, "DeploymentLogsRequest")
	if !ok {
		return
	}
	if s.Resource(sub) == nil {
		notFound(w, sub)
		return
	}
	s.mu.Lock()
	lines := append([]string(nil), s.logs[strings.ToLower(ep+"/"+dep)]...)
	s.mu.Unlock()
	if ct, _ := v["containerType"].(string); strings.EqualFold(ct, "StorageInitializer") {
		lines = []string{"storage initializer: model downloaded"}
	}
	if t, ok := v["tail"].(float64); ok && int(t) >= 0 && int(t) < len(lines) {
		lines = lines[len(lines)-int(t):]
	}
	writeJSON(w, http.StatusOK, map[string]any{"content": strings.Join(lines, "\n")})
}

// ---- jobs ----

func (s *Server) putJob(w http.ResponseWriter, r *http.Request, sub, name string, body []byte) {
	v, ok := s.decodeChecked(w, r.Method, sub, body, "JobBase")
	if !ok {
		return
	}
	if s.refuseShape(w, r.Method, sub, body, func(v map[string]any) []string {
		props, _ := v["properties"].(map[string]any)
		if jt, _ := props["jobType"].(string); !strings.EqualFold(jt, "Pipeline") {
			return nil
		}
		return prefixed("properties.", s.checkPipelineJob(props))
	}) {
		return
	}
	s.mu.Lock()
	_, existed := s.jobs[strings.ToLower(name)]
	s.mu.Unlock()
	if existed {
		armError(w, http.StatusConflict, "UserError", "A job with this name already exists: jobs/"+name+" (job properties cannot be updated).")
		return
	}
	res := s.stored(sub, v)
	props := res["properties"].(map[string]any)
	props["status"] = jobStates[0]
	props["services"] = map[string]any{"Studio": map[string]any{"endpoint": "https://ml.azure.com/runs/" + name +
		"?wsid=" + workspacePath, "jobServiceType": "Studio"}}
	jt, _ := props["jobType"].(string)
	s.mu.Lock()
	s.res[s.key(sub)] = res
	s.jobs[strings.ToLower(name)] = &job{states: jobStates, automl: strings.EqualFold(jt, "AutoML"), command: strings.EqualFold(jt, "Command")}
	b, _ := json.Marshal(res)
	s.mu.Unlock()
	writeRaw(w, http.StatusCreated, b)
}

// getJob moves the job one step on, then answers it.
func (s *Server) getJob(w http.ResponseWriter, sub string) {
	s.mu.Lock()
	res := s.res[s.key(sub)]
	name := strings.Split(s.key(sub), "/")[1]
	j := s.jobs[name]
	if res == nil || j == nil {
		s.mu.Unlock()
		notFound(w, sub)
		return
	}
	props := res["properties"].(map[string]any)
	if j.i < len(j.states)-1 {
		j.i++
		state := j.states[j.i]
		if f, ok := s.failJob[name]; ok && (state == "Finalizing" || state == "Completed") {
			j.states, j.i = []string{"Failed"}, 0
			state = "Failed"
			props["error"] = map[string]any{"code": f[0], "message": f[1]}
		}
		props["status"] = state
		if state == "Completed" && j.automl {
			outs, _ := props["outputs"].(map[string]any)
			if outs == nil {
				outs = map[string]any{}
				props["outputs"] = outs
			}
			outs["best_model"] = map[string]any{"jobOutputType": "mlflow_model", "mode": "ReadWriteMount",
				"uri": "azureml://jobs/" + res["name"].(string) + "/outputs/best_model"}
		}
		if state == "Completed" && j.command {
			s.writeCommandOutputs(props)
		}
		if state == "Completed" && j.pipeline {
			s.registerJobOutputs(res["name"].(string), props)
		}
	}
	b, _ := json.Marshal(res)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

var terminal = map[string]bool{"Completed": true, "Failed": true, "Canceled": true, "NotResponding": true}

// cancelJob: 202 + Location; the job shows CancelRequested, then Canceled when the
// operation ends. A job already ended is left as it is.
func (s *Server) cancelJob(w http.ResponseWriter, name string) {
	s.mu.Lock()
	res := s.res[s.key("jobs/"+name)]
	j := s.jobs[strings.ToLower(name)]
	if res == nil || j == nil {
		s.mu.Unlock()
		notFound(w, "jobs/"+name)
		return
	}
	props := res["properties"].(map[string]any)
	if !terminal[props["status"].(string)] {
		props["status"] = "CancelRequested"
		j.states, j.i = []string{"CancelRequested"}, 0
	}
	s.mu.Unlock()
	id := s.startOp(nil, func() {
		if props["status"] == "CancelRequested" {
			props["status"] = "Canceled"
		}
	})
	pollHeaders(w, "Location", "mfeOperationResults", id)
	w.WriteHeader(http.StatusAccepted)
}

// writeCommandOutputs puts Options.CommandOutputs into each uri_folder output of a
// completed Command job that points into the default datastore (called under s.mu).
func (s *Server) writeCommandOutputs(props map[string]any) {
	outs, _ := props["outputs"].(map[string]any)
	prefix := "azureml://datastores/" + Datastore + "/paths/"
	for _, o := range outs {
		m, _ := o.(map[string]any)
		uri, _ := m["uri"].(string)
		if t, _ := m["jobOutputType"].(string); !strings.EqualFold(t, "uri_folder") || !strings.HasPrefix(uri, prefix) {
			continue
		}
		dir := strings.Trim(strings.TrimPrefix(uri, prefix), "/")
		for name, b := range s.opts.CommandOutputs {
			s.blobs[dir+"/"+name] = b
		}
	}
}

// refuseShape answers 400 and records a problem when check, run under s.mu on the
// decoded body, finds the shape Azure's runner needs broken; the spec's own checks come
// after (or before) it in the caller.
func (s *Server) refuseShape(w http.ResponseWriter, method, sub string, body []byte, check func(map[string]any) []string) bool {
	var v map[string]any
	if json.Unmarshal(body, &v) != nil {
		return false // decodeChecked answers it
	}
	s.mu.Lock()
	errs := check(v)
	s.mu.Unlock()
	if len(errs) == 0 {
		return false
	}
	msg := strings.Join(errs, "; ")
	s.problem("%s %s: %s", method, sub, msg)
	armError(w, http.StatusBadRequest, "UserError", msg)
	return true
}

func prefixed(p string, errs []string) []string {
	for i, e := range errs {
		errs[i] = p + e
	}
	return errs
}
