package fakeazure

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A pipeline component is accepted only with nodes Azure's runner executes: each node
// type's fields, components that exist, bindings that resolve.
func TestPipelineNodesAreChecked(t *testing.T) {
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.Client()
	tok := armToken(t, c)
	comp := func(name, spec string) (*http.Response, string) {
		return put(t, c, tok, armURL(workspacePath+"/components/"+name+"/versions/1"), `{"properties": {"componentSpec": `+spec+`}}`)
	}
	if r, b := comp("score", `{"type": "command", "command": "python s.py ${{inputs.model}}", "environment": "azureml:e:1",
		"inputs": {"model": {"type": "mlflow_model"}, "after": {"type": "uri_folder", "optional": true}}, "outputs": {"metrics": {"type": "uri_folder"}}}`); r.StatusCode != 201 {
		t.Fatalf("command component: %s %s", r.Status, b)
	}
	scoreID := workspacePath + "/components/score/versions/1"
	automl := `"train": {"type": "automl", "task": "classification", "training_data": "${{parent.inputs.data}}", "target_column_name": "y"}`
	score := func(model string) string {
		return `"score": {"type": "command", "componentId": "` + scoreID + `", "inputs": {"model": {"job_input_type": "literal", "value": "` + model + `"}}}`
	}
	pipeline := func(jobs ...string) string {
		return `{"type": "pipeline", "inputs": {"data": {"type": "mltable"}}, "jobs": {` + strings.Join(jobs, ", ") + `}}`
	}
	if r, b := comp("good", pipeline(automl, score("${{parent.jobs.train.outputs.best_model}}"))); r.StatusCode != 201 {
		t.Fatalf("a valid pipeline: %s %s", r.Status, b)
	}
	for _, c := range []struct{ name, spec, want string }{
		{"mlflow's own node type", pipeline(`"train": {"type": "mlflow_automl", "config": {}}`),
			`componentSpec.jobs.train.type: \"mlflow_automl\" is not a node type Azure's pipeline runner executes`},
		{"an AutoML node without its data", pipeline(`"train": {"type": "automl", "task": "classification", "target_column_name": "y"}`),
			`componentSpec.jobs.train.training_data: required`},
		{"an AutoML node in the standalone job's names", pipeline(`"train": {"type": "automl", "task": "classification", "training_data": "${{parent.inputs.data}}", "target_column_name": "y", "primaryMetric": "AUCWeighted"}`),
			`componentSpec.jobs.train.primaryMetric: an AutoML node's fields are snake_case`},
		{"an undeclared input", pipeline(`"train": {"type": "automl", "task": "classification", "training_data": "${{parent.inputs.rows}}", "target_column_name": "y"}`),
			`componentSpec.jobs.train.training_data: ${{parent.inputs.rows}} binds input \"rows\", which the pipeline does not declare`},
		{"an output the node lacks", pipeline(automl, score("${{parent.jobs.train.outputs.model}}")),
			`binds output \"model\", which node train does not have`},
		{"a node that is not there", pipeline(score("${{parent.jobs.fit.outputs.best_model}}")),
			`binds node \"fit\", which the pipeline does not have`},
		{"a required input unbound", pipeline(`"score": {"type": "command", "componentId": "` + scoreID + `"}`),
			`componentSpec.jobs.score.inputs.model: the component's input model is required and not bound`},
		{"a component that does not exist", pipeline(`"score": {"type": "command", "componentId": "` + workspacePath + `/components/nope/versions/1"}`),
			`componentSpec.jobs.score.componentId: component`},
		{"an input the component does not declare", pipeline(automl, `"score": {"type": "command", "componentId": "`+scoreID+`", "inputs": {"model": {"job_input_type": "literal", "value": "${{parent.jobs.train.outputs.best_model}}"}, "extra": {"job_input_type": "literal", "value": "1"}}}`),
			`componentSpec.jobs.score.inputs.extra: the component declares no such input`},
		{"no nodes", `{"type": "pipeline", "jobs": {}}`, `componentSpec.jobs: a pipeline needs at least one node`},
		{"a command component without environment", `{"type": "command", "command": "true"}`, `componentSpec.environment: required for a command component`},
	} {
		r, b := comp("bad", c.spec)
		if r.StatusCode != 400 || !strings.Contains(b, c.want) {
			t.Errorf("%s: %s %s\nwant 400 with %s", c.name, r.Status, b, c.want)
		}
	}
	if n := len(s.Problems()); n != 11 {
		t.Errorf("%d problems recorded, want one per refused component: %v", n, s.Problems())
	}
}

// A schedule's pipeline job fires, runs its state machine to Completed; one whose data
// version is gone fails with Azure's reason instead.
func TestScheduledPipelineJobRunsToItsEnd(t *testing.T) {
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.Client()
	tok := armToken(t, c)
	for _, v := range []string{"1", "2"} {
		if r, b := put(t, c, tok, armURL(workspacePath+"/data/bank/versions/"+v),
			`{"properties": {"dataType": "mltable", "dataUri": "azureml://datastores/workspaceblobstore/paths/d"}}`); r.StatusCode != 201 {
			t.Fatalf("%s %s", r.Status, b)
		}
	}
	if r, b := put(t, c, tok, armURL(workspacePath+"/components/p/versions/1"), `{"properties": {"componentSpec": {"type": "pipeline",
		"inputs": {"data": {"type": "mltable"}},
		"jobs": {"train": {"type": "automl", "task": "classification", "training_data": "${{parent.inputs.data}}", "target_column_name": "y"}}}}}`); r.StatusCode != 201 {
		t.Fatalf("%s %s", r.Status, b)
	}
	schedule := func(name, data string) {
		r, b := put(t, c, tok, armURL(workspacePath+"/schedules/"+name), `{"properties": {"isEnabled": true,
			"trigger": {"triggerType": "Cron", "expression": "0 6 * * *", "timeZone": "UTC"},
			"action": {"actionType": "CreateJob", "jobDefinition": {"jobType": "Pipeline",
				"inputs": {"data": {"jobInputType": "mltable", "uri": "azureml:`+workspacePath+`/data/bank/versions/`+data+`"}},
				"jobs": {"pipeline": {"type": "pipeline", "componentId": "`+workspacePath+`/components/p/versions/1",
					"inputs": {"data": {"job_input_type": "literal", "value": "${{parent.inputs.data}}"}}}}}}}}`)
		if r.StatusCode != 201 {
			t.Fatalf("%s: %s %s", name, r.Status, b)
		}
		for i := 0; i < 5; i++ {
			get(t, c, tok, r.Header.Get("Azure-AsyncOperation"))
		}
	}
	schedule("good", "1")
	schedule("stale", "2")
	// Version 2 goes away after the stale schedule was accepted (the fake has no route
	// that deletes a data version).
	s.mu.Lock()
	delete(s.res, s.key("data/bank/versions/2"))
	s.mu.Unlock()

	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	names, err := s.Tick(from, from.Add(12*time.Hour))
	if err != nil || len(names) != 2 {
		t.Fatalf("%v %v", names, err)
	}
	status := func(name string) (string, string) {
		b := get(t, c, tok, armURL(workspacePath+"/jobs/"+name))
		switch {
		case strings.Contains(b, `"status":"Completed"`):
			return "Completed", b
		case strings.Contains(b, `"status":"Failed"`):
			return "Failed", b
		}
		return "", b
	}
	for _, n := range names {
		var st, b string
		for i := 0; i < 10 && st == ""; i++ {
			st, b = status(n)
		}
		switch {
		case strings.HasPrefix(n, "good-") && st != "Completed":
			t.Errorf("%s: %s", n, b)
		case strings.HasPrefix(n, "stale-") && (st != "Failed" || !strings.Contains(b, "data/bank/versions/2 was not found")):
			t.Errorf("%s: %s", n, b)
		}
	}
}

func get(t *testing.T, c *http.Client, tok, u string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}

// Before a triggered pipeline job runs, its bindings are resolved as the runner would:
// a param reaches the command from the job's inputs, or from the component's default;
// a command input that nothing gives is the job's failure, named.
func TestPipelineJobBindingsResolve(t *testing.T) {
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.Client()
	tok := armToken(t, c)
	comp := func(name, spec string) {
		t.Helper()
		if r, b := put(t, c, tok, armURL(workspacePath+"/components/"+name+"/versions/1"), `{"properties": {"componentSpec": `+spec+`}}`); r.StatusCode != 201 {
			t.Fatalf("component %s: %s %s", name, r.Status, b)
		}
	}
	comp("report", `{"type": "command", "command": "python r.py '${{inputs.depth}}'", "environment": "azureml:e:1", "inputs": {"depth": {"type": "string"}}}`)
	comp("p", `{"type": "pipeline", "inputs": {"depth": {"type": "string", "default": "4"}}, "jobs": {"report": {"type": "command", "componentId": "`+
		workspacePath+`/components/report/versions/1", "inputs": {"depth": {"job_input_type": "literal", "value": "${{parent.inputs.depth}}"}}}}}`)
	job := func(inputs string) map[string]any {
		return map[string]any{"jobType": "Pipeline", "inputs": decode(t, inputs), "jobs": decode(t, `{"pipeline": {"type": "pipeline", "componentId": "`+
			workspacePath+`/components/p/versions/1", "inputs": {"depth": {"job_input_type": "literal", "value": "${{parent.inputs.depth}}"}}}}`)}
	}
	s.mu.Lock()
	given, errs1 := s.resolvePipelineJob(job(`{"depth": {"jobInputType": "literal", "value": "9"}}`))
	dflt, errs2 := s.resolvePipelineJob(job(`{}`))
	s.mu.Unlock()
	if cmd := given["pipeline/report"].(map[string]any)["command"]; len(errs1) > 0 || cmd != "python r.py '9'" {
		t.Errorf("with depth 9: %v %v", cmd, errs1)
	}
	// The job gives no depth: the pipeline node binds one that is not there.
	if len(errs2) != 1 || !strings.Contains(errs2[0], "pipeline.inputs.depth: ${{parent.inputs.depth}} has no value in this job") || dflt == nil {
		t.Errorf("without depth: %v", errs2)
	}

	// A node that leaves the input unbound gets the component's default.
	s.mu.Lock()
	nodes, errs := s.resolvePipelineJob(map[string]any{"jobType": "Pipeline", "jobs": decode(t, `{"pipeline": {"type": "pipeline", "componentId": "`+
		workspacePath+`/components/p/versions/1"}}`)})
	s.mu.Unlock()
	if cmd := nodes["pipeline/report"].(map[string]any)["command"]; len(errs) > 0 || cmd != "python r.py '4'" {
		t.Errorf("default depth: %v %v", cmd, errs)
	}
	// A command that reads an optional input left without a value is named (Azure wants
	// such a read inside $[[ ]]).
	comp("opt", `{"type": "command", "command": "python r.py ${{inputs.depth}}", "environment": "azureml:e:1", "inputs": {"depth": {"type": "string", "optional": true}}}`)
	comp("bare", `{"type": "pipeline", "jobs": {"report": {"type": "command", "componentId": "`+workspacePath+`/components/opt/versions/1"}}}`)
	s.mu.Lock()
	_, errs = s.resolvePipelineJob(map[string]any{"jobType": "Pipeline", "jobs": decode(t, `{"pipeline": {"type": "pipeline", "componentId": "`+
		workspacePath+`/components/bare/versions/1"}}`)})
	s.mu.Unlock()
	if len(errs) != 1 || !strings.Contains(errs[0], "pipeline/report: the command reads ${{inputs.depth}}, which has no value") {
		t.Errorf("unbound command input: %v", errs)
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
