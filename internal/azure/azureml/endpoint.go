package azureml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/benchmark"
	"github.com/mlflow-go/mlflow/steps/consume"
	"github.com/mlflow-go/mlflow/steps/logs"
)

func keyConsume(ctx context.Context, req *engine.Request, w io.Writer) error {
	return consume.New().Key(ctx, req, w)
}

// endpointKey is the endpoint's primary key (listKeys), asked for each
// time it is needed: mlflow keeps no Azure key.
func (c *call) endpointKey(ctx context.Context, name string) (string, error) {
	var keys struct {
		PrimaryKey string `json:"primaryKey"`
	}
	if err := c.arm(ctx, "POST", "onlineEndpoints/"+seg(name)+"/listKeys", nil, &keys, false); err != nil {
		return "", err
	}
	if c.dry {
		return "${{ onlineEndpoints." + name + ".primaryKey }}", nil
	}
	if keys.PrimaryKey == "" {
		return "", fmt.Errorf("endpoint %s: listKeys gave no primary key", name)
	}
	return keys.PrimaryKey, nil
}

// rows are the records a consume step sends.
func (c *call) rows(in consume.Input) ([]map[string]any, error) {
	switch {
	case in.File != "":
		p := in.File
		if !filepath.IsAbs(p) && c.req.Workflow != nil {
			p = filepath.Join(c.req.Workflow.Dir, p)
		}
		return consume.ReadInput(p)
	case in.Records != nil:
		return in.Records, nil
	case in.Sample != nil:
		s := in.Sample
		if c.dry {
			return []map[string]any{{"${{ columns }}": fmt.Sprintf("${{ %d rows sampled from %s }}", max(s.Sample, 1), s.Dataset.Ref())}}, nil
		}
		f, err := datasets.LoadFrame(c.req.Store, s.Dataset.Digest)
		if err != nil {
			return nil, err
		}
		n := s.Sample
		if n <= 0 {
			n = 5
		}
		// The model's inputs are every column but the label: Azure's
		// endpoints publish no input list mlflow could read with the key.
		var cols []string
		for _, col := range f.Columns {
			if col.Name != s.Dataset.Target {
				cols = append(cols, col.Name)
			}
		}
		var rows []map[string]any
		for _, i := range f.SampleRows(n, uint64(s.Seed)) {
			m := map[string]any{}
			for _, name := range cols {
				m[name] = f.Col(name).Value(i)
			}
			rows = append(rows, m)
		}
		return rows, nil
	}
	return nil, errors.New("input is required: records, a .json or .csv file, or {dataset, sample}")
}

// scoringBody is the MLflow input Azure's MLflow deployments (AutoML's
// default) take: {"input_data": {"columns", "index", "data"}}.
func scoringBody(rows []map[string]any, method string) map[string]any {
	set := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			set[k] = true
		}
	}
	cols := make([]string, 0, len(set))
	for k := range set {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	data := make([][]any, len(rows))
	index := make([]int, len(rows))
	for i, r := range rows {
		index[i] = i
		data[i] = make([]any, len(cols))
		for j, k := range cols {
			data[i][j] = r[k]
		}
	}
	body := map[string]any{"input_data": map[string]any{"columns": cols, "index": index, "data": data}}
	if method == "predict_proba" {
		body["params"] = map[string]any{"predict_proba": true}
	}
	return body
}

// parseScores reads an answer: MLflow's bare list, {"predictions": [...]},
// or a generated score.py's {"Results"}/{"result"}, possibly as a string.
func parseScores(raw json.RawMessage) ([]any, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var list []any
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not JSON: %.200s", raw)
	}
	for _, k := range []string{"predictions", "Results", "result"} {
		if v, ok := obj[k]; ok {
			if err := json.Unmarshal(v, &list); err != nil {
				return nil, fmt.Errorf("%s is not a list", k)
			}
			return list, nil
		}
	}
	return nil, fmt.Errorf("no predictions in %.200s", raw)
}

func runConsume(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg consume.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	ep := cfg.Endpoint
	if ep.Name == "" || ep.ScoringURI == "" {
		return nil, errors.New("endpoint must be a deploy step's endpoint output (with name and scoring_uri)")
	}
	rows, err := c.rows(cfg.Input)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows to send")
	}
	key, err := c.endpointKey(ctx, ep.Name)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	r := azure.Request{Method: "POST", URL: ep.ScoringURI, Body: scoringBody(rows, cfg.Method),
		Header: map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}}
	if err := c.send(ctx, r, &raw); err != nil {
		return nil, err
	}
	var preds []any
	if c.dry {
		preds = []any{"${{ predictions }}"}
	} else {
		if preds, err = parseScores(raw); err != nil {
			return nil, fmt.Errorf("answer of %s: %w", ep.ScoringURI, err)
		}
		if len(preds) != len(rows) {
			return nil, fmt.Errorf("sent %d rows, got %d predictions", len(rows), len(preds))
		}
	}
	st, err := c.putJSON("predictions.json", map[string]any{"endpoint": ep.Name, "rows": rows, "predictions": preds})
	if err != nil {
		return nil, err
	}
	summary := map[string]int{}
	for _, p := range preds {
		if s, ok := p.(string); ok {
			summary[s]++
		}
	}
	out := artifact.Predictions{Path: st.path, Count: len(preds), Predictions: preds}
	if len(summary) > 0 {
		out.Summary = summary
	}
	c.req.Logf("sent %d rows to %s", len(rows), ep.ScoringURI)
	return engine.Outputs{"predictions": out}, nil
}

// runLogs fetches the inference server's log of the endpoint's deployment
// (getLogs). Azure's log is the container's text, not mlflow's request
// log: the output counts its lines and leaves the per-request figures at
// zero.
func runLogs(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg logs.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	name := cfg.Endpoint.Name
	if name == "" {
		return nil, errors.New("endpoint must be a deploy step's endpoint output")
	}
	tail := cfg.Tail
	if tail == 0 {
		tail = 1000
	}
	var out struct {
		Content string `json:"content"`
	}
	body := map[string]any{"containerType": "InferenceServer", "tail": tail}
	if err := c.arm(ctx, "POST", "onlineEndpoints/"+seg(name)+"/deployments/"+deploymentName+"/getLogs", body, &out, false); err != nil {
		return nil, err
	}
	lines := 0
	for _, l := range strings.Split(out.Content, "\n") {
		if strings.TrimSpace(l) != "" {
			lines++
		}
	}
	p := "${{ log.txt }}"
	if !c.dry {
		var err error
		if p, err = c.req.Store.Path("runs", c.req.RunID, c.step, "log.txt"); err != nil {
			return nil, err
		}
		if err := store.WriteFileAtomic(p, []byte(out.Content), 0o644); err != nil {
			return nil, err
		}
	}
	c.req.Logf("endpoint %s: %d log lines from deployment %s", name, lines, deploymentName)
	return engine.Outputs{"log": artifact.Log{Path: p, Endpoint: name, Count: lines, Status: map[string]int{}}}, nil
}

// runBenchmark load-tests the scoring URI with the local benchmark kind,
// the key from listKeys in an Authorization header: the load comes from
// this machine either way.
func runBenchmark(ctx context.Context, c *call) (engine.Outputs, error) {
	var cfg benchmark.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	ep := cfg.Endpoint.Output
	if ep == nil {
		// A plain URL: nothing of Azure's to look up.
		return benchmark.New().Run(ctx, c.req)
	}
	name := ep.Name
	key, err := c.endpointKey(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.dry {
		r := azure.Request{Method: "POST", URL: ep.ScoringURI, Body: "${{ the benchmark's payload, repeated }}"}
		return engine.Outputs{"report": artifact.Report{Status: map[string]int{}}}, c.send(ctx, r, nil)
	}
	cfgMap := map[string]any{}
	for k, v := range c.req.Config {
		cfgMap[k] = v
	}
	cfgMap["endpoint"] = ep.ScoringURI
	headers := map[string]any{}
	if h, ok := cfgMap["headers"].(map[string]any); ok {
		for k, v := range h {
			headers[k] = v
		}
	}
	if _, set := headers["Authorization"]; !set {
		headers["Authorization"] = "Bearer " + key
	}
	cfgMap["headers"] = headers
	sub := *c.req
	sub.Config = cfgMap
	return benchmark.New().Run(ctx, &sub)
}
