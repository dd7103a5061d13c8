package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server/swaggerui"
)

// The published pipelines' REST API (docs/protocols.md#pipelines): trigger a run, follow
// it, list and cancel runs. Triggers take our body, {"parameters": {...}}, or the body
// Azure's published-pipeline clients send, {"ExperimentName", "ParameterAssignments"},
// so a script written for Azure works with a changed URL and key.

// triggerBodyMax bounds a trigger's body: parameters are a few scalars.
const triggerBodyMax = 1 << 20

// PipelineURL is the base URL of pipeline name on the server.
func (in *Info) PipelineURL(name string) string { return in.URL + "/pipelines/" + name }

func (srv *Server) pipelineRoutes(m *http.ServeMux) {
	srv.pipes = pipelines.NewManager(srv.s, pipelines.Options{Kinds: srv.opts.Steps, Log: srv.opts.Log, OnEvent: srv.opts.OnPipelineEvent})
	m.HandleFunc("GET /pipelines/openapi.json", srv.pipelinesSpec)
	// The Swagger UI page loads its spec and assets by URLs relative to itself.
	m.HandleFunc("GET /pipelines/docs/openapi.json", srv.pipelinesSpec)
	m.HandleFunc("GET /pipelines/docs", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/pipelines/docs/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /pipelines/docs/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(swaggerui.PageViews("mlflow pipelines", []struct{ Name, URL, Label string }{
			{"pipelines", "openapi.json", "Published pipelines: /pipelines (OpenAPI 3.1)"},
		}))
	})
	m.HandleFunc("GET /pipelines/docs/docs/{file}", func(w http.ResponseWriter, r *http.Request) {
		swaggerui.Asset(w, r, r.PathValue("file"))
	})
	m.HandleFunc("GET /pipelines/{name}", srv.pipeline(srv.pipelineShow))
	m.HandleFunc("GET /pipelines/{name}/openapi.json", srv.pipeline(srv.pipelineSpec))
	m.HandleFunc("POST /pipelines/{name}/runs", srv.pipeline(srv.pipelineTrigger))
	m.HandleFunc("GET /pipelines/{name}/runs", srv.pipeline(srv.pipelineRuns))
	m.HandleFunc("GET /pipelines/{name}/runs/{id}", srv.pipeline(srv.pipelineRun))
	m.HandleFunc("POST /pipelines/{name}/runs/{id}/cancel", srv.pipeline(srv.pipelineCancel))
	m.HandleFunc("POST /admin/pipelines/reload", srv.admin(func(w http.ResponseWriter, r *http.Request) {
		srv.pipes.Wake()
		jsonOut(w, 200, map[string]any{"reloaded": true})
	}))
}

// startPipelines resumes queued runs and starts the scheduler; stop cancels what runs
// (recorded as interrupted) and waits for it.
func (srv *Server) startPipelines(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	if err := srv.pipes.Start(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("server: pipelines: %w", err)
	}
	return func() {
		cancel()
		srv.pipes.Wait()
	}, nil
}

// pipelineError answers in Azure's error shape, {"error": {"code", "message"}}.
func pipelineError(w http.ResponseWriter, status int, code, format string, args ...any) {
	jsonOut(w, status, map[string]any{"error": map[string]any{"code": code, "message": fmt.Sprintf(format, args...)}})
}

// pipeline wraps a pipeline route: 404 for an unknown pipeline, 401 without one of its
// keys (when its auth is key).
func (srv *Server) pipeline(f func(http.ResponseWriter, *http.Request, *pipelines.Pipeline)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		p, err := pipelines.Get(r.Context(), srv.s, name)
		if errors.Is(err, pipelines.ErrNotFound) {
			pipelineError(w, 404, "NotFound", "pipeline %s does not exist: publish it first", name)
			return
		}
		if err != nil {
			pipelineError(w, 500, "InternalError", "pipeline %s: %v", name, err)
			return
		}
		if p.Auth != "none" && !srv.pipelineKeyOK(r, name) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlflow-pipeline"`)
			pipelineError(w, 401, "Unauthorized", "pipeline %s needs one of its keys as Bearer (mlflow pipeline keys %s)", name, name)
			return
		}
		f(w, r, p)
	}
}

func (srv *Server) pipelineKeyOK(r *http.Request, name string) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	k, err := pipelines.ReadKeys(srv.s, name)
	if err != nil {
		srv.opts.Log.Printf("pipeline %s: keys: %v", name, err)
		return false
	}
	b := []byte(tok)
	// Both compared, always: which key matched must not show in the timing.
	p := subtle.ConstantTimeCompare(b, []byte(k.Primary))
	s := subtle.ConstantTimeCompare(b, []byte(k.Secondary))
	return p|s == 1
}

// PipelineInfo is a published pipeline as GET /pipelines/{name} shows it.
type PipelineInfo struct {
	*pipelines.Pipeline
	TriggerURI string `json:"trigger_uri"`
}

func (srv *Server) pipelineShow(w http.ResponseWriter, r *http.Request, p *pipelines.Pipeline) {
	jsonOut(w, 200, PipelineInfo{Pipeline: p, TriggerURI: baseURL(r) + "/pipelines/" + p.Name + "/runs"})
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// azureV1Fields are the other fields of Azure's v1 trigger body: accepted, not used.
var azureV1Fields = map[string]bool{
	"ExperimentName": true, "Description": true, "Tags": true, "DataPathAssignments": true,
	"DataSetDefinitionValueAssignments": true, "RunSource": true,
}

// triggerParams reads a trigger body: empty, ours or Azure's v1.
func triggerParams(r io.Reader) (map[string]any, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("body: larger than %d bytes", mbe.Limit)
		}
		return nil, fmt.Errorf("body: %v", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var body map[string]any
	if err := d.Decode(&body); err != nil {
		return nil, fmt.Errorf("body: malformed JSON: %v", err)
	}
	if d.More() {
		return nil, errors.New("body: malformed JSON: data after the object")
	}
	if body == nil {
		return nil, errors.New(`body: want an object, {"parameters": {...}}`)
	}
	var params map[string]any
	var from string
	for _, k := range slices.Sorted(maps.Keys(body)) {
		switch {
		case k == "parameters" || k == "ParameterAssignments":
			if from != "" {
				return nil, fmt.Errorf("body: both %s and %s: send one", from, k)
			}
			from = k
			if body[k] == nil {
				continue
			}
			m, ok := body[k].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("body: %s: want an object of parameter values", k)
			}
			params = m
		case azureV1Fields[k]:
		default:
			return nil, fmt.Errorf(`body: unknown field %q: want {"parameters": {...}} or Azure's {"ExperimentName": ..., "ParameterAssignments": {...}}`, k)
		}
	}
	return params, nil
}

func (srv *Server) pipelineTrigger(w http.ResponseWriter, r *http.Request, p *pipelines.Pipeline) {
	if p.Disabled {
		pipelineError(w, 409, "Conflict", "pipeline %s is disabled: enable it first (mlflow pipeline enable %s)", p.Name, p.Name)
		return
	}
	params, err := triggerParams(http.MaxBytesReader(w, r.Body, triggerBodyMax))
	if err != nil {
		pipelineError(w, 400, "BadRequest", "%v", err)
		return
	}
	run, err := srv.pipes.Trigger(r.Context(), p.Name, params, "rest")
	var pe *pipelines.ParamError
	var busy *pipelines.BusyError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		pipelineError(w, 400, "BadParameter", "%v", err)
		return
	case errors.As(err, &busy) && busy.Queued > 0:
		w.Header().Set("Retry-After", "60")
		pipelineError(w, 429, "TooManyRequests", "%v", err)
		return
	case errors.As(err, &busy), errors.Is(err, pipelines.ErrDisabled):
		pipelineError(w, 409, "Conflict", "%v", err)
		return
	case errors.Is(err, pipelines.ErrNotFound):
		pipelineError(w, 404, "NotFound", "%v", err)
		return
	case errors.Is(err, pipelines.ErrNoKinds), errors.Is(err, pipelines.ErrStopping):
		pipelineError(w, 503, "ServiceUnavailable", "%v", err)
		return
	default:
		srv.opts.Log.Printf("pipeline %s: trigger: %v", p.Name, err)
		pipelineError(w, 500, "InternalError", "pipeline %s: %v", p.Name, err)
		return
	}
	w.Header().Set("Location", baseURL(r)+"/pipelines/"+p.Name+"/runs/"+run.ID)
	jsonOut(w, 202, map[string]any{"Id": run.ID, "run_id": run.ID, "status": run.Status})
}

func (srv *Server) pipelineRuns(w http.ResponseWriter, r *http.Request, p *pipelines.Pipeline) {
	runs, err := pipelines.ListRuns(r.Context(), srv.s, p.Name, 0)
	if err != nil {
		pipelineError(w, 500, "InternalError", "pipeline %s: %v", p.Name, err)
		return
	}
	jsonOut(w, 200, map[string]any{"value": runs})
}

func (srv *Server) pipelineRun(w http.ResponseWriter, r *http.Request, p *pipelines.Pipeline) {
	run, err := pipelines.GetRun(r.Context(), srv.s, p.Name, r.PathValue("id"))
	srv.runAnswer(w, p, run, err)
}

func (srv *Server) pipelineCancel(w http.ResponseWriter, r *http.Request, p *pipelines.Pipeline) {
	run, err := srv.pipes.Cancel(r.Context(), p.Name, r.PathValue("id"))
	srv.runAnswer(w, p, run, err)
}

func (srv *Server) runAnswer(w http.ResponseWriter, p *pipelines.Pipeline, run *pipelines.Run, err error) {
	switch {
	case err == nil:
		jsonOut(w, 200, run)
	case errors.Is(err, pipelines.ErrNotFound):
		pipelineError(w, 404, "NotFound", "%v", err)
	case errors.Is(err, pipelines.ErrFinished):
		pipelineError(w, 409, "Conflict", "%v", err)
	default:
		pipelineError(w, 500, "InternalError", "pipeline %s: %v", p.Name, err)
	}
}

// pipelinesSpec is the OpenAPI 3.1 document of the routes above. It holds no pipeline's
// data, so it needs no key.
func (srv *Server) pipelinesSpec(w http.ResponseWriter, r *http.Request) {
	jsonOut(w, 200, pipelinesOpenAPI(srv.opts.Version))
}

// pipelineSpec is the document for one pipeline: its parameters typed, with their
// defaults, so a generated client knows what it may send. It names the parameters, so it
// needs a key like the pipeline's other routes.
func (srv *Server) pipelineSpec(w http.ResponseWriter, r *http.Request, p *pipelines.Pipeline) {
	doc := pipelinesOpenAPI(srv.opts.Version)
	props := map[string]any{}
	for _, pr := range p.Params {
		t := map[string]any{"default": pr.Default}
		switch pr.Type {
		case "string":
			t["type"] = "string"
		case "boolean":
			t["type"] = []string{"boolean", "string"}
		default:
			// Azure's ParameterAssignments send numbers as strings.
			t["type"] = []string{pr.Type, "string"}
		}
		props[pr.Name] = t
	}
	values := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	doc["info"].(map[string]any)["title"] = "mlflow pipeline " + p.Name
	doc["info"].(map[string]any)["description"] = p.Description
	body := doc["paths"].(map[string]any)["/pipelines/{name}/runs"].(map[string]any)["post"].(map[string]any)["requestBody"]
	for _, alt := range body.(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["oneOf"].([]any) {
		pr := alt.(map[string]any)["properties"].(map[string]any)
		for _, k := range []string{"parameters", "ParameterAssignments"} {
			if pr[k] != nil {
				pr[k] = values
			}
		}
	}
	jsonOut(w, 200, doc)
}

func pipelinesOpenAPI(version string) map[string]any {
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	answer := func(desc string, schema map[string]any) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
	}
	errs := func(codes ...string) map[string]any {
		out := map[string]any{}
		text := map[string]string{
			"400": "Malformed body, unknown parameter, a value of the wrong type, or a path leaving the snapshot",
			"401": "Missing or wrong key", "404": "No such pipeline or run",
			"409": "Disabled pipeline, a run active with concurrency skip, or a finished run",
			"429": "A run is active and the most runs a pipeline queues (100) already wait: try again later",
		}
		for _, c := range codes {
			out[c] = answer(text[c], ref("Error"))
		}
		return out
	}
	merge := func(a, b map[string]any) map[string]any {
		for k, v := range b {
			a[k] = v
		}
		return a
	}
	nameParam := map[string]any{"name": "name", "in": "path", "required": true, "schema": map[string]any{"type": "string", "pattern": pipelines.NamePattern}}
	idParam := map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
	values := map[string]any{"type": "object", "description": "Parameter values by name: strings, numbers or booleans, as the pipeline's params declare (strings that spell a number or a boolean are accepted for those)",
		"additionalProperties": map[string]any{"type": []string{"string", "number", "integer", "boolean"}}}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "mlflow published pipelines", "version": version,
			"description": "Trigger and follow runs of the pipelines the publish step published. Runs go through the same engine and cache as mlflow run and appear in mlflow runs list."},
		"security": []any{map[string]any{"key": []string{}}},
		"paths": map[string]any{
			"/pipelines/{name}/openapi.json": map[string]any{"get": map[string]any{
				"operationId": "getPipelineSpec", "summary": "This document for one pipeline, its parameters typed",
				"parameters": []any{nameParam},
				"responses":  merge(map[string]any{"200": answer("An OpenAPI 3.1 document", map[string]any{"type": "object"})}, errs("401", "404")),
			}},
			"/pipelines/{name}": map[string]any{"get": map[string]any{
				"operationId": "getPipeline", "summary": "The pipeline at its newest version: steps, params, schedule",
				"parameters": []any{nameParam},
				"responses":  merge(map[string]any{"200": answer("The pipeline", ref("Pipeline"))}, errs("401", "404")),
			}},
			"/pipelines/{name}/runs": map[string]any{
				"post": map[string]any{
					"operationId": "triggerRun", "summary": "Start a run (queued while another runs, or refused with concurrency skip)",
					"parameters": []any{nameParam},
					"requestBody": map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"oneOf": []any{
						map[string]any{"title": "mlflow", "type": "object", "properties": map[string]any{"parameters": values}, "additionalProperties": false},
						map[string]any{"title": "Azure ML v1 (PipelineSubmit)", "type": "object", "properties": map[string]any{
							"ExperimentName": map[string]any{"type": "string"}, "ParameterAssignments": values,
							"Description": map[string]any{}, "Tags": map[string]any{}, "DataPathAssignments": map[string]any{},
							"DataSetDefinitionValueAssignments": map[string]any{}, "RunSource": map[string]any{},
						}, "additionalProperties": false},
					}}}}},
					"responses": merge(map[string]any{"202": map[string]any{
						"description": "Accepted: the run's status URL is in Location",
						"headers":     map[string]any{"Location": map[string]any{"schema": map[string]any{"type": "string", "format": "uri"}}},
						"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object", "required": []string{"Id", "run_id", "status"},
							"properties": map[string]any{"Id": map[string]any{"type": "string"}, "run_id": map[string]any{"type": "string"}, "status": map[string]any{"const": "NotStarted"}}}}},
					}}, errs("400", "401", "404", "409", "429")),
				},
				"get": map[string]any{
					"operationId": "listRuns", "summary": "The pipeline's runs, newest first",
					"parameters": []any{nameParam},
					"responses": merge(map[string]any{"200": answer("Runs", map[string]any{"type": "object", "properties": map[string]any{
						"value": map[string]any{"type": "array", "items": ref("Run")}}})}, errs("401", "404")),
				},
			},
			"/pipelines/{name}/runs/{id}": map[string]any{"get": map[string]any{
				"operationId": "getRun", "summary": "A run: status, steps with their outputs, times",
				"parameters": []any{nameParam, idParam},
				"responses":  merge(map[string]any{"200": answer("The run", ref("Run"))}, errs("401", "404")),
			}},
			"/pipelines/{name}/runs/{id}/cancel": map[string]any{"post": map[string]any{
				"operationId": "cancelRun", "summary": "Cancel a queued or running run",
				"parameters": []any{nameParam, idParam},
				"responses":  merge(map[string]any{"200": answer("The run once it stopped", ref("Run"))}, errs("401", "404", "409")),
			}},
		},
		"components": map[string]any{
			"securitySchemes": map[string]any{"key": map[string]any{"type": "http", "scheme": "bearer", "description": "One of the pipeline's keys: mlflow pipeline keys NAME"}},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{"error": map[string]any{
					"type": "object", "required": []string{"code", "message"},
					"properties": map[string]any{"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}}},
				"Run": map[string]any{"type": "object", "required": []string{"Id", "run_id", "pipeline", "version", "trigger", "status", "state", "parameters", "created"},
					"properties": map[string]any{
						"Id": map[string]any{"type": "string"}, "run_id": map[string]any{"type": "string"},
						"pipeline": map[string]any{"type": "string"}, "version": map[string]any{"type": "integer"},
						"trigger":       map[string]any{"enum": []string{"rest", "schedule"}},
						"status":        map[string]any{"enum": []string{"NotStarted", "Running", "Completed", "Failed", "Canceled"}, "description": "Azure's job status names"},
						"state":         map[string]any{"enum": []string{pipelines.Queued, pipelines.Running, pipelines.Succeeded, pipelines.Failed, pipelines.Cancelled, pipelines.Interrupted}, "description": "The run's state as mlflow runs shows it; interrupted: the server stopped during the run"},
						"parameters":    map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
						"scheduled_for": map[string]any{"type": "string", "format": "date-time"},
						"created":       map[string]any{"type": "string", "format": "date-time"},
						"started":       map[string]any{"type": "string", "format": "date-time"},
						"finished":      map[string]any{"type": "string", "format": "date-time"},
						"error":         map[string]any{"type": "string"},
						"steps": map[string]any{"type": "object", "description": "Each step as mlflow runs show prints it: kind, state, cached, duration_ms, outputs, error",
							"additionalProperties": map[string]any{"type": "object"}},
					}},
				"Pipeline": map[string]any{"type": "object", "properties": map[string]any{
					"name": map[string]any{"type": "string"}, "version": map[string]any{"type": "integer"},
					"workflow": map[string]any{"type": "string"}, "snapshot": map[string]any{"type": "string"},
					"steps":  map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
					"params": map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
					"auth":   map[string]any{"enum": []string{"key", "none"}}, "schedule": map[string]any{"type": "object"},
					"concurrency": map[string]any{"enum": []string{"queue", "skip"}}, "disabled": map[string]any{"type": "boolean"},
					"next_fire_at": map[string]any{"type": "string", "format": "date-time"}, "last_fired_at": map[string]any{"type": "string", "format": "date-time"},
					"trigger_uri": map[string]any{"type": "string", "format": "uri"},
				}},
			},
		},
	}
}
