package serve

import (
	"encoding/json"
	"net/http"
	"sync"
)

// specCache holds a model's generated specs: they depend only on the
// model and the mount, so each is built once.
type specCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *specCache) get(key string, build func() any) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.m[key]; ok {
		return b
	}
	b, err := json.MarshalIndent(build(), "", "  ")
	if err != nil {
		b = []byte(`{"message": "spec: ` + err.Error() + `"}`)
	}
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = b
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	w.Write(b)
}

func (h *Handler) swaggerJSON(w http.ResponseWriter, r *http.Request) {
	l := h.model.Load()
	if l == nil {
		h.writeFailure(w, protoAzure, fail(503, h.notReadyMsg()))
		return
	}
	v := r.URL.Query().Get("version")
	var b []byte
	switch v {
	case "", "2":
		b = l.specs.get("2", func() any { return h.swagger2(l) })
	case "3":
		b = l.specs.get("3", func() any { return h.openapiScore(l, "3.0.3") })
	case "3.1":
		b = l.specs.get("3.1", func() any { return h.openapiScore(l, "3.1.0") })
	default:
		h.writeFailure(w, protoAzure, fail(404, "swagger version "+clip(v)+" is not available: use 2, 3 or 3.1"))
		return
	}
	w.Header()["Content-Type"] = hdrJSON
	w.Write(b)
}

func (h *Handler) openapiJSON(w http.ResponseWriter, r *http.Request) {
	l := h.model.Load()
	if l == nil {
		h.writeFailure(w, protoOther, fail(503, h.notReadyMsg()))
		return
	}
	b := l.specs.get("openapi", func() any { return h.openapiFull(l) })
	w.Header()["Content-Type"] = hdrJSON
	w.Write(b)
}

type obj = map[string]any

func (h *Handler) title(l *loaded) string {
	if h.opts.Endpoint != "" {
		return h.opts.Endpoint
	}
	return l.name
}

func columnSchema(in Input) obj {
	switch in.Type {
	case "integer":
		return obj{"type": "integer", "format": "int64"}
	case "number":
		return obj{"type": "number", "format": "double"}
	case "boolean":
		return obj{"type": "boolean"}
	}
	return obj{"type": "string"}
}

// recordSchema is one input row: every column required, typed.
func recordSchema(l *loaded) obj {
	props := obj{}
	req := make([]string, 0, l.nc)
	for _, in := range l.inputs {
		props[in.Name] = columnSchema(in)
		req = append(req, in.Name)
	}
	return obj{"type": "object", "required": req, "properties": props}
}

// exampleRows are up to two training rows (Model.Examples), or one row
// built from each input's example value.
func exampleRows(l *loaded) []map[string]any {
	ex := l.m.Examples()
	if len(ex) > 2 {
		ex = ex[:2]
	}
	if len(ex) == 0 {
		row := map[string]any{}
		for _, in := range l.inputs {
			row[in.Name] = in.Example
		}
		ex = []map[string]any{row}
	}
	return ex
}

// examplePair runs the example rows through the model so the spec's
// example answer is a real one.
func examplePair(l *loaded) (in, out any) {
	rows := exampleRows(l)
	in = obj{"Inputs": obj{"data": rows}, "GlobalParameters": obj{"method": "predict"}}
	body, _ := json.Marshal(in)
	sc := &scratch{}
	req, err := l.decode(protoAzure, body, sc)
	if err != nil {
		return in, obj{"Results": []string{}}
	}
	pred := make([]float64, req.rows*l.nout)
	l.predictRows(sc.x, pred, req.rows)
	if json.Unmarshal(l.encode(nil, &req, pred, ClassicObject), &out) != nil {
		out = obj{"Results": []string{}}
	}
	return in, out
}

func resultItems(l *loaded) obj {
	if l.nout == 1 {
		return obj{"type": "number", "format": "double"}
	}
	return obj{"type": "string", "enum": l.classes}
}

func methods(l *loaded) []string {
	if l.nout > 1 {
		return []string{"predict", "predict_proba"}
	}
	return []string{"predict"}
}

func (h *Handler) basePath() string {
	if h.opts.Prefix == "" {
		return "/"
	}
	return h.opts.Prefix
}

// swagger2 is laid out as Azure's generated swagger.json for an AutoML
// deployment: same operationIds, definitions and Bearer scheme.
func (h *Handler) swagger2(l *loaded) any {
	exIn, exOut := examplePair(l)
	errResp := obj{"description": "The service failed to execute due to an error.", "schema": obj{"$ref": "#/definitions/ErrorResponse"}}
	return obj{
		"swagger": "2.0",
		"info": obj{
			"title":       h.title(l),
			"description": "API specification for the Azure Machine Learning service " + h.title(l),
			"version":     "1.0",
		},
		"schemes":  []string{"http"},
		"basePath": h.basePath(),
		"consumes": []string{"application/json"},
		"produces": []string{"application/json"},
		"securityDefinitions": obj{"Bearer": obj{
			"type": "apiKey", "name": "Authorization", "in": "header",
			"description": "For example: Bearer abc123",
		}},
		"paths": obj{
			"/": obj{"get": obj{
				"operationId": "ServiceHealthCheck",
				"description": "Simple health check endpoint to ensure the service is up at any given point.",
				"responses": obj{
					"200":     obj{"description": "If service is up and running, this response will be returned with the content 'Healthy'", "schema": obj{"type": "string"}, "examples": obj{"application/json": "Healthy"}},
					"default": errResp,
				},
			}},
			"/score": obj{"post": obj{
				"operationId": "RunMLService",
				"description": "Run web service's model and get the prediction output",
				"security":    []any{obj{"Bearer": []string{}}},
				"parameters": []any{obj{
					"name": "serviceInputPayload", "in": "body",
					"description": "The input payload for executing the real-time machine learning service.",
					"schema":      obj{"$ref": "#/definitions/ServiceInput"},
				}},
				"responses": obj{
					"200":     obj{"description": "The service processed the input correctly and provided a result prediction, if applicable.", "schema": obj{"$ref": "#/definitions/ServiceOutput"}},
					"default": errResp,
				},
			}},
			"/swagger.json": obj{"get": obj{
				"operationId": "GetSwaggerSpec",
				"description": "Get the Swagger specification.",
				"parameters":  []any{obj{"name": "version", "in": "query", "required": false, "type": "integer", "enum": []int{2, 3}}},
				"responses": obj{
					"200":     obj{"description": "The Swagger specification.", "schema": obj{"type": "string"}},
					"default": errResp,
				},
			}},
		},
		"definitions": obj{
			"ServiceInput": obj{
				"type": "object",
				"properties": obj{
					"Inputs": obj{"type": "object", "required": []string{"data"}, "properties": obj{
						"data": obj{"type": "array", "items": recordSchema(l), "format": "pandas.DataFrame:records"},
					}},
					"GlobalParameters": obj{"type": "object", "required": []string{"method"}, "properties": obj{
						"method": obj{"type": "string", "enum": methods(l)},
					}},
				},
				"example": exIn,
			},
			"ServiceOutput": obj{
				"type":       "object",
				"required":   []string{"Results"},
				"properties": obj{"Results": obj{"type": "array", "items": resultItems(l)}},
				"example":    exOut,
			},
			"ErrorResponse": obj{"type": "object", "properties": obj{"message": obj{"type": "string"}}},
		},
	}
}

// schemas3 are the OpenAPI 3 components shared by both OpenAPI documents.
func schemas3(l *loaded) obj {
	exIn, exOut := examplePair(l)
	rows := exampleRows(l)
	return obj{
		"Record": recordSchema(l),
		"ServiceInput": obj{
			"type": "object", "required": []string{"Inputs"},
			"properties": obj{
				"Inputs": obj{"type": "object", "required": []string{"data"}, "properties": obj{
					"data": obj{"type": "array", "items": obj{"$ref": "#/components/schemas/Record"}},
				}},
				"GlobalParameters": obj{"type": "object", "properties": obj{"method": obj{"type": "string", "enum": methods(l)}}},
			},
			"example": exIn,
		},
		"ClassicInput": obj{
			"type": "object", "required": []string{"data"},
			"properties": obj{
				"data":   obj{"type": "array", "items": obj{"$ref": "#/components/schemas/Record"}},
				"method": obj{"type": "string", "enum": methods(l)},
			},
			"example": obj{"data": rows},
		},
		"ServiceOutput": obj{
			"type": "object", "required": []string{"Results"},
			"properties": obj{"Results": obj{"type": "array", "items": resultItems(l)}},
			"example":    exOut,
		},
		"ClassicOutput": obj{"type": "string", "description": `A JSON string holding {"result": [...]}, as Azure's AutoML scoring script answers.`},
		"ErrorResponse": obj{"type": "object", "properties": obj{"message": obj{"type": "string"}}},
	}
}

func scoreOp3() obj {
	return obj{
		"operationId": "RunMLService",
		"description": "Run web service's model and get the prediction output",
		"security":    []any{obj{"Bearer": []string{}}},
		"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"oneOf": []any{
			obj{"$ref": "#/components/schemas/ServiceInput"}, obj{"$ref": "#/components/schemas/ClassicInput"},
		}}}}},
		"responses": obj{
			"200": obj{"description": "Predictions in the shape asked: {\"Results\"} for Inputs, a JSON string for data.", "content": obj{"application/json": obj{"schema": obj{"oneOf": []any{
				obj{"$ref": "#/components/schemas/ServiceOutput"}, obj{"$ref": "#/components/schemas/ClassicOutput"},
			}}}}},
			"default": obj{"description": "The service failed to execute due to an error.", "content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/ErrorResponse"}}}},
		},
	}
}

func (h *Handler) openapiScore(l *loaded, version string) any {
	return obj{
		"openapi": version,
		"info":    obj{"title": h.title(l), "description": "API specification for the Azure Machine Learning service " + h.title(l), "version": "1.0"},
		"servers": []any{obj{"url": h.basePath()}},
		"paths": obj{
			"/":      obj{"get": obj{"operationId": "ServiceHealthCheck", "responses": obj{"200": obj{"description": "Healthy", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}}}},
			"/score": obj{"post": scoreOp3()},
			"/swagger.json": obj{"get": obj{"operationId": "GetSwaggerSpec", "parameters": []any{obj{"name": "version", "in": "query", "schema": obj{"type": "string", "enum": []string{"2", "3", "3.1"}}}},
				"responses": obj{"200": obj{"description": "The specification."}}}},
		},
		"components": obj{
			"schemas":         schemas3(l),
			"securitySchemes": obj{"Bearer": obj{"type": "http", "scheme": "bearer"}},
		},
	}
}

// openapiFull documents every route of docs/protocols.md#routes.
func (h *Handler) openapiFull(l *loaded) any {
	doc := h.openapiScore(l, "3.1.0").(obj)
	paths := doc["paths"].(obj)
	text := func(desc string) obj {
		return obj{"200": obj{"description": desc, "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}}
	}
	js := func(desc string) obj {
		return obj{"200": obj{"description": desc, "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}
	}
	modelParam := obj{"name": "m", "in": "path", "required": true, "schema": obj{"type": "string", "enum": []string{h.title(l)}}}
	records := obj{"type": "array", "items": obj{"$ref": "#/components/schemas/Record"}}
	paths["/openapi.json"] = obj{"get": obj{"operationId": "GetOpenAPI", "responses": js("This document.")}}
	paths["/docs"] = obj{"get": obj{"operationId": "SwaggerUI", "responses": obj{"200": obj{"description": "Swagger UI", "content": obj{"text/html": obj{}}}}}}
	paths["/ping"] = obj{"get": obj{"operationId": "MLflowPing", "responses": text("The model is loaded.")}}
	paths["/health"] = obj{"get": obj{"operationId": "MLflowHealth", "responses": text("The model is loaded.")}}
	paths["/version"] = obj{"get": obj{"operationId": "MLflowVersion", "responses": text("The server version.")}}
	paths["/livez"] = obj{"get": obj{"operationId": "Livez", "responses": text("The process is up.")}}
	paths["/readyz"] = obj{"get": obj{"operationId": "Readyz", "responses": text("A model is loaded and serving.")}}
	paths["/metrics"] = obj{"get": obj{"operationId": "Metrics", "responses": text("Prometheus text exposition.")}}
	paths["/invocations"] = obj{"post": obj{
		"operationId": "MLflowInvocations",
		"security":    []any{obj{"Bearer": []string{}}},
		"requestBody": obj{"required": true, "content": obj{
			"application/json": obj{"schema": obj{"oneOf": []any{
				obj{"type": "object", "required": []string{"dataframe_split"}, "properties": obj{"dataframe_split": obj{"type": "object", "properties": obj{"columns": obj{"type": "array", "items": obj{"type": "string"}}, "data": obj{"type": "array", "items": obj{"type": "array"}}}}}},
				obj{"type": "object", "required": []string{"dataframe_records"}, "properties": obj{"dataframe_records": records}},
				obj{"type": "object", "required": []string{"instances"}, "properties": obj{"instances": records}},
				obj{"type": "object", "required": []string{"inputs"}, "properties": obj{"inputs": obj{"type": "object"}}},
			}}},
			"text/csv": obj{"schema": obj{"type": "string"}},
		}},
		"responses": obj{
			"200":     obj{"description": "Predictions.", "content": obj{"application/json": obj{"schema": obj{"type": "object", "properties": obj{"predictions": obj{"type": "array", "items": resultItems(l)}}}}}},
			"default": obj{"description": "MLflow error.", "content": obj{"application/json": obj{"schema": obj{"type": "object", "properties": obj{"error_code": obj{"type": "string"}, "message": obj{"type": "string"}}}}}},
		},
	}}
	paths["/v2"] = obj{"get": obj{"operationId": "OIPServerMetadata", "responses": js("Server metadata.")}}
	paths["/v2/health/live"] = obj{"get": obj{"operationId": "OIPLive", "responses": js("Live.")}}
	paths["/v2/health/ready"] = obj{"get": obj{"operationId": "OIPReady", "responses": js("Ready.")}}
	paths["/v2/models/{m}"] = obj{"get": obj{"operationId": "OIPModelMetadata", "parameters": []any{modelParam}, "responses": js("Model metadata.")}}
	paths["/v2/models/{m}/ready"] = obj{"get": obj{"operationId": "OIPModelReady", "parameters": []any{modelParam}, "responses": js("Model ready.")}}
	paths["/v2/models/{m}/infer"] = obj{"post": obj{
		"operationId": "OIPInfer",
		"parameters":  []any{modelParam},
		"security":    []any{obj{"Bearer": []string{}}},
		"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"type": "object", "required": []string{"inputs"}, "properties": obj{
			"id":     obj{"type": "string"},
			"inputs": obj{"type": "array", "items": obj{"type": "object", "required": []string{"name", "datatype", "data"}, "properties": obj{"name": obj{"type": "string"}, "shape": obj{"type": "array", "items": obj{"type": "integer"}}, "datatype": obj{"type": "string"}, "data": obj{"type": "array"}}}},
		}}}}},
		"responses": js("Inference response."),
	}}
	if h.opts.Prefix != "" {
		// The workspace server routes OIP at its root, not under the mount.
		doc["servers"] = []any{obj{"url": h.opts.Prefix}, obj{"url": "/", "description": "OIP routes (/v2/...) at the server root"}}
	}
	return doc
}
