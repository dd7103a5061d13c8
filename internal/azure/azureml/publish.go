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
	"github.com/mlflow-go/mlflow/internal/azure/azureml/wintz"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/steps/publish"
)

// A published pipeline on Azure is the v2 shape (not SDK v1, deprecated): a pipeline
// component holding the published steps, a batch endpoint with a
// PipelineComponent deployment of it (its scoring URI is the trigger), and
// a schedule when the step has one. The component's jobs carry each
// step's kind and config, references written as Azure's
// ${{parent.jobs.STEP.outputs.OUTPUT}}: the node shape is free-form in the
// REST spec and unverified (docs/azureml.md#limits).

type published struct {
	cfg      publish.Config
	steps    []string
	spec     map[string]any
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
	steps, err := pipelines.Closure(wf, cfg.Steps)
	if err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	jobs := map[string]any{}
	for _, n := range steps {
		st := wf.Steps[n]
		if n == c.step || st.Kind == "publish" {
			return nil, fmt.Errorf("steps: %s is a publish step: a pipeline does not publish pipelines", n)
		}
		jobs[n] = map[string]any{"type": "mlflow_" + st.Kind, "config": azureRefs(st.Config)}
	}
	inputs := map[string]any{}
	for _, p := range cfg.Params {
		inputs[p] = map[string]any{"type": "string", "default": fmt.Sprint(wf.Params[p])}
	}
	spec := map[string]any{"type": "pipeline", "name": cfg.Name, "display_name": cfg.Name, "inputs": inputs, "jobs": jobs}
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	p := &published{cfg: cfg, steps: steps, spec: spec, digest: "sha256:" + hex.EncodeToString(sum[:])}
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

// azureRefs writes references as Azure pipeline bindings.
func azureRefs(v any) any {
	switch x := v.(type) {
	case schema.Ref:
		return "${{parent.jobs." + x.Step + ".outputs." + x.Output + "}}"
	case *schema.Ref:
		return azureRefs(*x)
	case schema.Template:
		s := ""
		for _, p := range x.Parts {
			if r, ok := p.(schema.Ref); ok {
				s += azureRefs(r).(string)
			} else {
				s += fmt.Sprint(p)
			}
		}
		return s
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = azureRefs(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = azureRefs(e)
		}
		return out
	}
	return v
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
	name := p.cfg.Name
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
		inputs := map[string]any{}
		for _, k := range sortedParams(p.cfg.Params) {
			inputs[k] = map[string]any{"jobInputType": "literal", "value": fmt.Sprint(c.req.Workflow.Params[k])}
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
				"jobs":           map[string]any{"pipeline": map[string]any{"type": "pipeline", "component": "azureml:" + c.id(csub)}},
				"settings":       map[string]any{},
			}},
		}}
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
	return engine.Outputs{"pipeline": pipelineOutput(p, version, uri)}, nil
}

func sortedParams(ps []string) []string {
	out := append([]string(nil), ps...)
	sort.Strings(out)
	return out
}
