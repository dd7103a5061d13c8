package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
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

// views are the per-protocol views of /openapi.json (?protocol=NAME) that
// the Swagger UI page offers beside the whole document: each keeps the
// operations of one tag.
var views = []struct{ name, tag string }{
	{"azure", tagAzure},
	{"mlflow", tagMLflow},
	{"oip", tagOIP},
}

const (
	tagAzure  = "Azure ML"
	tagMLflow = "MLflow"
	tagOIP    = "Open Inference Protocol"
	tagServer = "Server"
)

func (h *Handler) openapiJSON(w http.ResponseWriter, r *http.Request) {
	l := h.model.Load()
	if l == nil {
		h.writeFailure(w, protoOther, fail(503, h.notReadyMsg()))
		return
	}
	view := r.URL.Query().Get("protocol")
	tag := ""
	if view != "" {
		for _, v := range views {
			if v.name == view {
				tag = v.tag
			}
		}
		if tag == "" {
			h.writeFailure(w, protoOther, fail(404, "protocol "+clip(view)+" has no view: use azure, mlflow or oip, or no protocol for the whole document"))
			return
		}
	}
	b := l.specs.get("openapi:"+view, func() any { return h.openapiView(l, tag) })
	w.Header()["Content-Type"] = hdrJSON
	w.Write(b)
}

type obj = map[string]any

// ordered is a JSON object that keeps its keys in the order given: Go
// maps marshal with sorted keys, but Azure lists a record's properties,
// and Swagger UI shows them and the examples, in the dataset's column
// order.
type ordered []member

type member struct {
	key   string
	value any
}

func (o ordered) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b = append(append(appendJSONString(b, m.key), ':'), v...)
	}
	return append(b, '}'), nil
}

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

// recordSchema is one input row: every column required, typed, in the
// model's column order.
func recordSchema(l *loaded) obj {
	props := make(ordered, 0, l.nc)
	req := make([]string, 0, l.nc)
	for _, in := range l.inputs {
		props = append(props, member{in.Name, columnSchema(in)})
		req = append(req, in.Name)
	}
	return obj{"type": "object", "required": req, "properties": props}
}

// exampleRow is the one example record of the specs, in column order: each
// input's Example, which the model builds from the training data's
// profile (a median, the most frequent category, the majority boolean),
// so no training row is ever published. An input without one gets a
// neutral value of its type.
func exampleRow(l *loaded) ordered {
	row := make(ordered, 0, l.nc)
	for _, in := range l.inputs {
		v := in.Example
		if v == nil {
			switch in.Type {
			case "integer", "number":
				v = 0
			case "boolean":
				v = false
			default:
				v = ""
				if len(in.Levels) > 0 {
					v = in.Levels[0]
				}
			}
		}
		row = append(row, member{in.Name, v})
	}
	return row
}

// examplePair runs the example row through the model so the spec's
// example answer is a real one.
func examplePair(l *loaded) (in, out any) {
	rows := []ordered{exampleRow(l)}
	in = obj{"Inputs": obj{"data": rows}, "GlobalParameters": obj{"method": "predict"}}
	body, _ := json.Marshal(in)
	sc := &scratch{}
	req, err := l.decode(protoAzure, body, sc, decodeOpts{})
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

// predictItem is one answer of method predict: a class label, or the
// regression value.
func predictItem(l *loaded) obj {
	if l.nout == 1 {
		return obj{"type": "number", "format": "double"}
	}
	return obj{"type": "string", "enum": l.classes}
}

// probaItem is one answer of method predict_proba.
func probaItem(l *loaded) obj {
	return obj{
		"type": "array", "minItems": l.nout, "maxItems": l.nout,
		"items":       obj{"type": "number", "format": "double"},
		"description": "The probability of each class, in the order " + strings.Join(l.classes, ", ") + ".",
	}
}

// resultItems3 is one element of Results: a label for predict, the class
// probabilities for predict_proba.
func resultItems3(l *loaded) obj {
	if l.nout == 1 {
		return predictItem(l)
	}
	return obj{"oneOf": []any{predictItem(l), probaItem(l)}}
}

// resultItems2 is resultItems3 for Swagger 2.0, which has no oneOf: a
// classifier's element is left untyped (a label or a probability list),
// so that generated clients decode both answers.
func resultItems2(l *loaded) obj {
	if l.nout == 1 {
		return predictItem(l)
	}
	return obj{"description": "A class label (" + strings.Join(l.classes, ", ") + ") for method predict; the probability of each class, in that order, for predict_proba."}
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
// deployment: same operationIds, definitions and Bearer scheme. It
// documents the Inputs form only (Swagger 2.0 cannot say "one of"); the
// OpenAPI 3 documents add the classic {"data"} form.
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
				"produces":    []string{"text/plain"},
				"responses": obj{
					"200":     obj{"description": "If service is up and running, this response will be returned with the content 'Healthy'", "schema": obj{"type": "string"}, "examples": obj{"text/plain": "Healthy"}},
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
				"parameters":  []any{obj{"name": "version", "in": "query", "required": false, "type": "string", "enum": []string{"2", "3", "3.1"}}},
				"responses": obj{
					"200":     obj{"description": "The Swagger specification.", "schema": obj{"type": "object"}},
					"default": errResp,
				},
			}},
		},
		"definitions": obj{
			"ServiceInput": obj{
				"type":     "object",
				"required": []string{"Inputs"},
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
				"properties": obj{"Results": obj{"type": "array", "format": "numpy.ndarray", "items": resultItems2(l)}},
				"example":    exOut,
			},
			"ErrorResponse": errorSchema("message"),
		},
	}
}

// errorSchema is an error body: a JSON object whose required fields are
// strings.
func errorSchema(fields ...string) obj {
	props := obj{}
	for _, f := range fields {
		props[f] = obj{"type": "string"}
	}
	return obj{"type": "object", "required": fields, "properties": props}
}

// classicOutput is the answer to the classic {"data"} form, in the shape
// the endpoint was deployed with (Options.ClassicResponse).
func (h *Handler) classicOutput(l *loaded) obj {
	if h.opts.ClassicResponse == ClassicObject {
		return obj{
			"type": "object", "required": []string{"result"},
			"properties": obj{"result": obj{"type": "array", "items": resultItems3(l)}},
		}
	}
	return obj{"type": "string", "description": `A JSON string holding {"result": [...]}, as Azure's AutoML scoring script answers.`}
}

// schemas3 are the OpenAPI 3 components shared by the OpenAPI documents.
func (h *Handler) schemas3(l *loaded) obj {
	exIn, exOut := examplePair(l)
	return obj{
		"Record": recordSchema(l),
		"ServiceInput": obj{
			"type": "object", "required": []string{"Inputs"},
			"properties": obj{
				"Inputs": obj{"type": "object", "required": []string{"data"}, "properties": obj{
					"data": obj{"type": "array", "format": "pandas.DataFrame:records", "items": obj{"$ref": "#/components/schemas/Record"}},
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
			"example": obj{"data": []ordered{exampleRow(l)}},
		},
		"ServiceOutput": obj{
			"type": "object", "required": []string{"Results"},
			"properties": obj{"Results": obj{"type": "array", "format": "numpy.ndarray", "items": resultItems3(l)}},
			"example":    exOut,
		},
		"ClassicOutput": h.classicOutput(l),
		"ErrorResponse": errorSchema("message"),
		"MLflowError":   errorSchema("error_code", "message", "stack_trace"),
		"OIPError":      errorSchema("error"),
		"OIPTensor": obj{
			"type": "object", "required": []string{"name", "datatype", "shape", "data"},
			"properties": obj{
				"name":     obj{"type": "string"},
				"datatype": obj{"type": "string", "enum": []string{"BOOL", "INT64", "FP64", "BYTES"}},
				"shape":    obj{"type": "array", "items": obj{"type": "integer"}},
				"data":     obj{"type": "array"},
			},
		},
	}
}

func jsonContent(ref string) obj {
	return obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/" + ref}}}
}

func scoreOp3() obj {
	return obj{
		"operationId": "RunMLService",
		"tags":        []string{tagAzure},
		"description": "Run web service's model and get the prediction output",
		"security":    []any{obj{"Bearer": []string{}}},
		"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"oneOf": []any{
			obj{"$ref": "#/components/schemas/ServiceInput"}, obj{"$ref": "#/components/schemas/ClassicInput"},
		}}}}},
		"responses": obj{
			"200": obj{"description": "Predictions in the shape asked: {\"Results\"} for Inputs, the classic answer for data.", "content": obj{"application/json": obj{"schema": obj{"oneOf": []any{
				obj{"$ref": "#/components/schemas/ServiceOutput"}, obj{"$ref": "#/components/schemas/ClassicOutput"},
			}}}}},
			"default": obj{"description": "The service failed to execute due to an error.", "content": jsonContent("ErrorResponse")},
		},
	}
}

func (h *Handler) openapiScore(l *loaded, version string) any {
	return obj{
		"openapi": version,
		"info":    obj{"title": h.title(l), "description": "API specification for the Azure Machine Learning service " + h.title(l), "version": "1.0"},
		"servers": []any{obj{"url": h.basePath()}},
		"paths": obj{
			"/": obj{"get": obj{"operationId": "ServiceHealthCheck", "tags": []string{tagAzure},
				"responses": obj{"200": obj{"description": "Healthy", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}}}},
			"/score": obj{"post": scoreOp3()},
			"/swagger.json": obj{"get": obj{"operationId": "GetSwaggerSpec", "tags": []string{tagAzure},
				"parameters": []any{obj{"name": "version", "in": "query", "schema": obj{"type": "string", "enum": []string{"2", "3", "3.1"}}}},
				"responses": obj{
					"200":     obj{"description": "The specification.", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}},
					"default": obj{"description": "No such version, or no model loaded.", "content": jsonContent("ErrorResponse")},
				}}},
		},
		"components": obj{
			"schemas":         h.schemas3(l),
			"securitySchemes": obj{"Bearer": obj{"type": "http", "scheme": "bearer"}},
		},
	}
}

// openapiFull documents every route the handler serves (docs/protocols.md).
func (h *Handler) openapiFull(l *loaded) obj {
	doc := h.openapiScore(l, "3.1.0").(obj)
	paths := doc["paths"].(obj)
	op := func(id, tag string, responses obj) obj {
		return obj{"get": obj{"operationId": id, "tags": []string{tag}, "responses": responses}}
	}
	text := func(desc string) obj {
		return obj{"200": obj{"description": desc, "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}}
	}
	js := func(desc string, schema obj) obj {
		return obj{"200": obj{"description": desc, "content": obj{"application/json": obj{"schema": schema}}}}
	}
	oipErr := obj{"description": "The model or version is not served here, or not ready.", "content": jsonContent("OIPError")}
	modelParam := obj{"name": "m", "in": "path", "required": true, "schema": obj{"type": "string", "enum": []string{h.title(l)}}}
	records := obj{"type": "array", "items": obj{"$ref": "#/components/schemas/Record"}}
	str := obj{"type": "string"}
	paths["/openapi.json"] = op("GetOpenAPI", tagServer, js("This document, or one protocol's view of it.", obj{"type": "object"}))
	paths["/openapi.json"].(obj)["get"].(obj)["parameters"] = []any{obj{"name": "protocol", "in": "query", "schema": obj{"type": "string", "enum": []string{"azure", "mlflow", "oip"}}}}
	paths["/docs"] = op("SwaggerUI", tagServer, obj{"200": obj{"description": "Swagger UI", "content": obj{"text/html": obj{}}}})
	// MLflow's scoring server answers its probes with a newline typed
	// application/json; so do we, for clients that check either.
	ping := obj{
		"200": obj{"description": "The model is loaded. The body is a newline, as MLflow's scoring server answers.", "content": obj{"application/json": obj{}}},
		"404": obj{"description": "No model is loaded, or the endpoint is stopped.", "content": obj{"text/plain": obj{"schema": str}}},
	}
	paths["/ping"] = op("MLflowPing", tagMLflow, ping)
	paths["/health"] = op("MLflowHealth", tagMLflow, ping)
	paths["/version"] = op("MLflowVersion", tagMLflow, text("The server version."))
	paths["/livez"] = op("Livez", tagServer, text("The process is up."))
	paths["/readyz"] = op("Readyz", tagServer, text("A model is loaded and serving."))
	paths["/readyz"].(obj)["get"].(obj)["responses"].(obj)["503"] = obj{"description": "Not serving, and why.", "content": obj{"text/plain": obj{"schema": str}}}
	paths["/metrics"] = op("Metrics", tagServer, text("Prometheus text exposition."))
	paths["/invocations"] = obj{"post": obj{
		"operationId": "MLflowInvocations",
		"tags":        []string{tagMLflow},
		"security":    []any{obj{"Bearer": []string{}}},
		"requestBody": obj{"required": true, "content": obj{
			"application/json": obj{"schema": obj{"oneOf": []any{
				obj{"type": "object", "required": []string{"dataframe_split"}, "properties": obj{"dataframe_split": obj{"type": "object", "required": []string{"columns", "data"}, "properties": obj{"columns": obj{"type": "array", "items": str}, "data": obj{"type": "array", "items": obj{"type": "array"}}}}}},
				obj{"type": "object", "required": []string{"dataframe_records"}, "properties": obj{"dataframe_records": records}},
				obj{"type": "object", "required": []string{"instances"}, "properties": obj{"instances": records}},
				obj{"type": "object", "required": []string{"inputs"}, "properties": obj{"inputs": obj{"type": "object", "description": "Columns: each input's name to the list of its values."}}},
			}}},
			"text/csv": obj{"schema": str},
		}},
		"responses": obj{
			"200": obj{"description": "Predictions.", "content": obj{"application/json": obj{"schema": obj{
				"type": "object", "required": []string{"predictions"},
				"properties": obj{"predictions": obj{"type": "array", "items": predictItem(l)}},
			}}}},
			"415":     obj{"description": "A content type or content-type parameter MLflow's scoring server refuses, in its words.", "content": obj{"text/plain": obj{"schema": str}}},
			"default": obj{"description": "MLflow error.", "content": jsonContent("MLflowError")},
		},
	}}
	serverMeta := js("Server metadata.", obj{"type": "object", "required": []string{"name", "version", "extensions"}, "properties": obj{"name": str, "version": str, "extensions": obj{"type": "array", "items": str}}})
	paths["/v2"] = op("OIPServerMetadata", tagOIP, serverMeta)
	paths["/v2/"] = op("OIPServerMetadataSlash", tagOIP, serverMeta)
	paths["/v2/health/live"] = op("OIPLive", tagOIP, js("Live.", obj{"type": "object", "required": []string{"live"}, "properties": obj{"live": obj{"type": "boolean"}}}))
	ready := obj{"type": "object", "required": []string{"ready"}, "properties": obj{"name": str, "ready": obj{"type": "boolean"}}}
	paths["/v2/health/ready"] = op("OIPReady", tagOIP, obj{
		"200": obj{"description": "Ready.", "content": obj{"application/json": obj{"schema": ready}}},
		"503": obj{"description": "Not ready.", "content": obj{"application/json": obj{"schema": ready}}},
	})
	tensorMeta := obj{"type": "array", "items": obj{"type": "object", "required": []string{"name", "datatype", "shape"}, "properties": obj{"name": str, "datatype": str, "shape": obj{"type": "array", "items": obj{"type": "integer"}}}}}
	modelMeta := obj{"type": "object", "required": []string{"name", "versions", "platform", "inputs", "outputs"}, "properties": obj{
		"name": str, "versions": obj{"type": "array", "items": str}, "platform": str, "inputs": tensorMeta, "outputs": tensorMeta,
	}}
	versionParam := obj{"name": "v", "in": "path", "required": true, "schema": obj{"type": "string", "enum": []string{strconv.Itoa(l.version)}}}
	infer := obj{"post": obj{
		"operationId": "OIPInfer",
		"tags":        []string{tagOIP},
		"parameters":  []any{modelParam},
		"security":    []any{obj{"Bearer": []string{}}},
		"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"type": "object", "required": []string{"inputs"}, "properties": obj{
			"id":         str,
			"parameters": obj{"type": "object"},
			"inputs":     obj{"type": "array", "items": obj{"type": "object", "required": []string{"name", "datatype", "data"}, "properties": obj{"name": str, "shape": obj{"type": "array", "items": obj{"type": "integer"}}, "datatype": str, "data": obj{"type": "array"}}}},
			"outputs":    obj{"type": "array", "items": obj{"type": "object", "required": []string{"name"}, "properties": obj{"name": obj{"type": "string", "enum": oipOutputs(l)}}}},
		}}}}},
		"responses": obj{
			"200": obj{"description": "Inference response.", "content": obj{"application/json": obj{"schema": obj{
				"type": "object", "required": []string{"model_name", "outputs"},
				"properties": obj{"model_name": str, "model_version": str, "id": str, "outputs": obj{"type": "array", "items": obj{"$ref": "#/components/schemas/OIPTensor"}}},
			}}}},
			"default": obj{"description": "OIP error.", "content": jsonContent("OIPError")},
		},
	}}
	meta := func(id string, params []any) obj {
		return obj{"get": obj{"operationId": id, "tags": []string{tagOIP}, "parameters": params,
			"responses": obj{"200": obj{"description": "Model metadata.", "content": obj{"application/json": obj{"schema": modelMeta}}}, "default": oipErr}}}
	}
	readyOp := func(id string, params []any) obj {
		return obj{"get": obj{"operationId": id, "tags": []string{tagOIP}, "parameters": params, "responses": obj{
			"200":     obj{"description": "Model ready.", "content": obj{"application/json": obj{"schema": ready}}},
			"503":     obj{"description": "Model loaded but the endpoint is stopped.", "content": obj{"application/json": obj{"schema": ready}}},
			"default": oipErr,
		}}}
	}
	withVersion := []any{modelParam, versionParam}
	paths["/v2/models/{m}"] = meta("OIPModelMetadata", []any{modelParam})
	paths["/v2/models/{m}/ready"] = readyOp("OIPModelReady", []any{modelParam})
	paths["/v2/models/{m}/infer"] = infer
	paths["/v2/models/{m}/versions/{v}"] = meta("OIPModelVersionMetadata", withVersion)
	paths["/v2/models/{m}/versions/{v}/ready"] = readyOp("OIPModelVersionReady", withVersion)
	vInfer := obj{}
	for k, v := range infer["post"].(obj) {
		vInfer[k] = v
	}
	vInfer["operationId"], vInfer["parameters"] = "OIPVersionInfer", withVersion
	paths["/v2/models/{m}/versions/{v}/infer"] = obj{"post": vInfer}
	doc["tags"] = []any{
		obj{"name": tagAzure, "description": "Azure Machine Learning online endpoint: /score."},
		obj{"name": tagMLflow, "description": "MLflow's scoring server: /invocations and its probes."},
		obj{"name": tagOIP, "description": "Open Inference Protocol (KServe v2)."},
		obj{"name": tagServer, "description": "Probes, metrics and these documents."},
	}
	doc["info"] = obj{"title": h.title(l), "description": "Every route of the endpoint " + h.title(l) + ": Azure ML's /score, MLflow's /invocations, the Open Inference Protocol, probes and metrics.", "version": "1.0"}
	if h.opts.Prefix != "" {
		// The workspace server also routes OIP at its root.
		doc["servers"] = []any{obj{"url": h.opts.Prefix}, obj{"url": "/", "description": "OIP routes (/v2/...) at the server root"}}
	}
	return doc
}

// oipOutputs are the output tensors an infer request may ask for.
func oipOutputs(l *loaded) []string {
	if l.nout > 1 {
		return []string{"predict", "predict_proba"}
	}
	return []string{"predict"}
}

// openapiView is the whole document, or with tag the operations of one
// protocol (a Swagger UI view per protocol).
func (h *Handler) openapiView(l *loaded, tag string) any {
	doc := h.openapiFull(l)
	if tag == "" {
		return doc
	}
	paths := obj{}
	for p, item := range doc["paths"].(obj) {
		for _, o := range item.(obj) {
			if slices.Contains(o.(obj)["tags"].([]string), tag) {
				paths[p] = item
			}
		}
	}
	doc["paths"] = paths
	doc["info"] = obj{"title": h.title(l) + ": " + tag, "description": tag + " operations of " + h.title(l) + ".", "version": "1.0"}
	// Only the view's tag, or Swagger UI shows the others as empty groups.
	for _, t := range doc["tags"].([]any) {
		if t.(obj)["name"] == tag {
			doc["tags"] = []any{t}
		}
	}
	// Only the schemas the view's operations use, so its model list is
	// the protocol's.
	comp := doc["components"].(obj)
	all := comp["schemas"].(obj)
	used := obj{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case obj:
			if ref, ok := x["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if _, seen := used[name]; !seen && all[name] != nil {
					used[name] = all[name]
					walk(all[name])
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(paths)
	comp["schemas"] = used
	return doc
}
