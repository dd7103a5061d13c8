package azureml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure/azureml/pipecheck"
	"github.com/mlflow-go/mlflow/internal/azure/azureml/wintz"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps/publish"
)

// A published pipeline on Azure is the v2 shape (not SDK v1, deprecated): a pipeline
// component holding the published steps as Azure's own nodes (publish_nodes.go), a
// batch endpoint with a PipelineComponent deployment of it (its scoring URI is the
// trigger), and a schedule when the step has one, whose job binds the pipeline's
// inputs: each dataset to its data asset's latest version, each param to its value.

type published struct {
	cfg      publish.Config
	steps    []string
	parts    *pipelineParts
	spec     map[string]any
	bound    map[string]string // dataset input -> the data version's ARM id
	digest   string
	schedule map[string]any // nil: none
	shown    string         // the schedule as the output says it
}

func desiredPublish(c *call) (*published, error) {
	var cfg publish.Config
	if err := c.req.Decode(&cfg); err != nil {
		return nil, err
	}
	wf := c.req.Workflow
	if wf == nil {
		return nil, errors.New("publish needs the workflow")
	}
	steps, err := wf.Closure(cfg.Steps)
	if err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	var uses []pipecheck.ParamUse
	if len(cfg.Params) > 0 {
		// Where the published params are written in the file: the settings that follow
		// them at trigger time are bound to the pipeline's inputs.
		// The file is loaded again with the run's values (a param without a default
		// needs one); only scalars can be given as -p values, and only their places
		// matter here.
		given := map[string]string{}
		for k, v := range wf.Params {
			switch v.(type) {
			case string, bool, int, int64, float64:
				given[k] = fmt.Sprint(v)
			}
		}
		if uses, err = load.ParamUses(wf.File, load.Options{Params: given, Target: "azureml"}); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	parts, err := buildPipeline(c, wf, c.step, cfg, steps, uses)
	if err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	inputs := parts.inputs
	for _, p := range cfg.Params {
		inputs[azureName(p)] = map[string]any{"type": "string", "default": fmt.Sprint(wf.Params[p])}
	}
	spec := map[string]any{"type": "pipeline", "name": cfg.Name, "display_name": cfg.Name, "inputs": inputs, "jobs": parts.jobs}
	if len(parts.outputs) > 0 {
		spec["outputs"] = parts.outputs
	}
	p := &published{cfg: cfg, steps: steps, parts: parts, spec: spec}
	if s := cfg.Schedule; s != nil {
		switch {
		case s.Cron != "":
			tz, ok := wintz.Name(s.Timezone)
			if !ok {
				return nil, fmt.Errorf("schedule.timezone %q has no known Windows name", s.Timezone)
			}
			p.schedule = map[string]any{"triggerType": "Cron", "expression": s.Cron, "timeZone": tz}
			p.shown = "cron " + s.Cron + " " + tz
		case s.Every != "":
			d, err := time.ParseDuration(s.Every)
			if err != nil {
				return nil, fmt.Errorf("schedule.every: %v", err)
			}
			freq, n := recurrence(d)
			p.schedule = map[string]any{"triggerType": "Recurrence", "frequency": freq, "interval": n, "timeZone": "UTC"}
			p.shown = fmt.Sprintf("every %d %s", n, freq)
		}
	}
	return p, nil
}

// recurrence expresses d in Azure's largest whole unit; under a minute
// rounds up to one minute, Azure's smallest.
func recurrence(d time.Duration) (string, int) {
	switch {
	case d >= 7*24*time.Hour && d%(7*24*time.Hour) == 0:
		return "Week", int(d / (7 * 24 * time.Hour))
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return "Day", int(d / (24 * time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return "Hour", int(d / time.Hour)
	}
	m := int((d + time.Minute - 1) / time.Minute)
	return "Minute", max(m, 1)
}

// bindData binds each dataset input to its data asset's latest version on Azure and
// fixes the digest: the same steps bound to the same data are the same publication.
func (p *published) bindData(ctx context.Context, c *call) error {
	p.bound = map[string]string{}
	for _, in := range sortedKeys(p.parts.data) {
		name := p.parts.data[in]
		if c.dry {
			p.bound[in] = c.id("data/" + seg(name) + "/versions/" + placeholder("data."+name+".latest"))
			continue
		}
		var list struct {
			Value []struct {
				Name string `json:"name"`
			} `json:"value"`
		}
		err := c.arm(ctx, "GET", "data/"+seg(name)+"/versions", nil, &list, false)
		if err != nil && !notFound(err) {
			return err
		}
		latest := 0
		for _, v := range list.Value {
			if n, err := strconv.Atoi(v.Name); err == nil && n > latest {
				latest = n
			}
		}
		if latest == 0 {
			return fmt.Errorf("dataset step %s: data asset %s has no version on Azure yet, and the published pipeline reads it: run the dataset step first (needs: [%q] on this step)", in, name, in)
		}
		p.bound[in] = c.id(fmt.Sprintf("data/%s/versions/%d", seg(name), latest))
	}
	b, _ := json.Marshal(map[string]any{"spec": p.spec, "data": p.bound})
	sum := sha256.Sum256(b)
	p.digest = "sha256:" + hex.EncodeToString(sum[:])
	return nil
}

// jobInputs are the pipeline job's inputs: the bound data and the params' values.
func (p *published) jobInputs(c *call) map[string]any {
	inputs := map[string]any{}
	for in, id := range p.bound {
		inputs[in] = map[string]any{"jobInputType": "mltable", "uri": "azureml:" + id}
	}
	for _, k := range sortedParams(p.cfg.Params) {
		inputs[azureName(k)] = map[string]any{"jobInputType": "literal", "value": fmt.Sprint(c.req.Workflow.Params[k])}
	}
	return inputs
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type batchEndpoint struct {
	Tags       map[string]string `json:"tags"`
	Properties struct {
		ScoringURI        string `json:"scoringUri"`
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

const scheduleTag = "mlflow.schedule"

func pipelineOutput(p *published, version int, uri string) artifact.Pipeline {
	return artifact.Pipeline{Name: p.cfg.Name, Version: version, TriggerURI: uri, Schedule: p.shown}
}

// reconcilePublish: a batch endpoint that carries this component's digest
// and schedule is left alone.
func reconcilePublish(ctx context.Context, c *call) (engine.Outputs, bool, error) {
	p, err := desiredPublish(c)
	if err != nil {
		return nil, false, err
	}
	if err := p.bindData(ctx, c); err != nil {
		return nil, false, nil // the run says why
	}
	var e batchEndpoint
	if err := c.arm(ctx, "GET", "batchEndpoints/"+seg(p.cfg.Name), nil, &e, false); err != nil {
		if notFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	v, _ := strconv.Atoi(e.Tags["mlflow.version"])
	if e.Tags[digestTag] != p.digest || e.Tags[scheduleTag] != p.shown || v == 0 || e.Properties.ProvisioningState != "Succeeded" {
		return nil, false, nil
	}
	c.req.Logf("unchanged: pipeline %s version %d is published", p.cfg.Name, v)
	return engine.Outputs{"pipeline": pipelineOutput(p, v, e.Properties.ScoringURI)}, true, nil
}

func runPublish(ctx context.Context, c *call) (engine.Outputs, error) {
	p, err := desiredPublish(c)
	if err != nil {
		return nil, err
	}
	if err := p.bindData(ctx, c); err != nil {
		return nil, err
	}
	name := p.cfg.Name
	// The command components the nodes run, first: the pipeline component names
	// them. Their version is their digest, so one that exists is the same.
	for _, cc := range p.parts.commands {
		sub := "components/" + seg(cc.name) + "/versions/" + cc.version
		if err := c.record("components", cc.name+":"+cc.version, c.id(sub)); err != nil {
			return nil, err
		}
		body := map[string]any{"properties": map[string]any{"componentSpec": cc.spec, "tags": c.tags()}}
		if err := c.arm(ctx, "PUT", sub, body, nil, false); err != nil {
			return nil, fmt.Errorf("command component of step %s: %w", cc.step, err)
		}
	}
	var list struct {
		Value []struct {
			Name string `json:"name"`
		} `json:"value"`
	}
	version := 1
	switch err := c.arm(ctx, "GET", "components/"+seg(name)+"/versions", nil, &list, false); {
	case err == nil:
		for _, v := range list.Value {
			if n, err := strconv.Atoi(v.Name); err == nil && n >= version {
				version = n + 1
			}
		}
	case !notFound(err):
		return nil, err
	}
	p.spec["version"] = strconv.Itoa(version)
	csub := fmt.Sprintf("components/%s/versions/%d", seg(name), version)
	tags := c.tags()
	tags[digestTag] = p.digest
	comp := map[string]any{"properties": map[string]any{"componentSpec": p.spec, "tags": tags}}
	if err := c.record("components", fmt.Sprintf("%s:%d", name, version), c.id(csub)); err != nil {
		return nil, err
	}
	if err := c.arm(ctx, "PUT", csub, comp, nil, false); err != nil {
		return nil, err
	}
	loc, err := c.location(ctx)
	if err != nil {
		return nil, err
	}
	esub := "batchEndpoints/" + seg(name)
	etags := c.tags()
	etags[digestTag], etags[scheduleTag], etags["mlflow.version"] = p.digest, p.shown, strconv.Itoa(version)
	endpoint := map[string]any{"location": loc, "tags": etags, "properties": map[string]any{"authMode": "AADToken", "defaults": map[string]any{"deploymentName": deploymentName}}}
	if err := c.record("batchEndpoints", name, c.id(esub)); err != nil {
		return nil, err
	}
	var e batchEndpoint
	if err := c.arm(ctx, "PUT", esub, endpoint, &e, true); err != nil {
		return nil, err
	}
	dsub := esub + "/deployments/" + deploymentName
	dep := map[string]any{"location": loc, "tags": c.tags(), "properties": map[string]any{
		"deploymentConfiguration": map[string]any{
			"deploymentConfigurationType": "PipelineComponent",
			"componentId":                 map[string]any{"referenceType": "Id", "assetId": c.id(csub)},
		},
	}}
	if c.Compute != "" {
		dep["properties"].(map[string]any)["compute"] = c.Compute
	}
	if err := c.record("batchEndpoints/deployments", name+"/"+deploymentName, c.id(dsub)); err != nil {
		return nil, err
	}
	if err := c.arm(ctx, "PUT", dsub, dep, nil, true); err != nil {
		return nil, fmt.Errorf("batch deployment %s/%s: %w", name, deploymentName, err)
	}
	if p.schedule != nil {
		inputs := p.jobInputs(c)
		bound := map[string]any{}
		for k := range inputs {
			bound[k] = literal("${{parent.inputs." + k + "}}")
		}
		// Each best model is an output of the job named as the automl step names its
		// model: Azure registers it as that model's next version when the job completes.
		outputs, boundOut := map[string]any{}, map[string]any{}
		for _, k := range sortedKeys(p.parts.models) {
			outputs[k] = map[string]any{"jobOutputType": "mlflow_model", "assetName": p.parts.models[k]}
			boundOut[k] = map[string]any{"type": "literal", "value": "${{parent.outputs." + k + "}}"}
		}
		settings := map[string]any{}
		if c.Compute != "" {
			settings["default_compute"] = c.id("computes/" + seg(c.Compute))
		}
		ssub := "schedules/" + seg(name)
		sched := map[string]any{"properties": map[string]any{
			"displayName": name,
			"isEnabled":   true,
			"trigger":     p.schedule,
			"tags":        c.tags(),
			"action": map[string]any{"actionType": "CreateJob", "jobDefinition": map[string]any{
				"jobType":        "Pipeline",
				"experimentName": c.Experiment,
				"inputs":         inputs,
				"jobs":           map[string]any{"pipeline": map[string]any{"type": "pipeline", "componentId": c.id(csub), "inputs": bound}},
				"settings":       settings,
			}},
		}}
		if len(outputs) > 0 {
			def := sched["properties"].(map[string]any)["action"].(map[string]any)["jobDefinition"].(map[string]any)
			def["outputs"] = outputs
			def["jobs"].(map[string]any)["pipeline"].(map[string]any)["outputs"] = boundOut
		}
		if err := c.record("schedules", name, c.id(ssub)); err != nil {
			return nil, err
		}
		if err := c.arm(ctx, "PUT", ssub, sched, nil, true); err != nil {
			return nil, err
		}
		c.req.Logf("schedule %s: %s", name, p.shown)
	}
	uri := e.Properties.ScoringURI
	if c.dry {
		uri = "${{ batchEndpoints." + name + ".scoringUri }}"
	}
	c.req.Logf("published %s version %d (%d steps): trigger %s", name, version, len(p.steps), uri)
	for _, in := range sortedKeys(p.bound) {
		// A batch invocation binds the pipeline's inputs itself: say what to bind.
		c.req.Logf("input %s: azureml:%s (the data the schedule binds; give it to a batch invocation too)", in, p.bound[in])
	}
	return engine.Outputs{"pipeline": pipelineOutput(p, version, uri)}, nil
}

func sortedParams(ps []string) []string {
	out := append([]string(nil), ps...)
	sort.Strings(out)
	return out
}
