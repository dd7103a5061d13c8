package azureml

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure/azureml/pipecheck"
	"github.com/mlflow-go/mlflow/steps/deploy"
)

// deploymentName is the one deployment mlflow keeps behind an endpoint.
const deploymentName = "default"

// deployInstanceType is Azure's default VM size for managed deployments.
const deployInstanceType = "Standard_F4s_v2"

type endpointResource struct {
	Location   string `json:"location"`
	Properties struct {
		ProvisioningState string         `json:"provisioningState"`
		ScoringURI        string         `json:"scoringUri"`
		SwaggerURI        string         `json:"swaggerUri"`
		Traffic           map[string]int `json:"traffic"`
		AuthMode          string         `json:"authMode"`
	} `json:"properties"`
}

type deploymentResource struct {
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
		Model             string `json:"model"`
		InstanceType      string `json:"instanceType"`
	} `json:"properties"`
}

// modelID is the Azure model a deploy step serves: the automl step's
// output, or NAME:VERSION registered on Azure.
func (c *call) modelID(ref artifact.ModelRef) (id, shown string, err error) {
	name, version := "", ""
	if m := ref.Output; m != nil {
		name, version = m.Name, fmt.Sprint(m.Version)
	} else {
		var ok bool
		if name, version, ok = pipecheck.ModelRef(ref.Ref); !ok {
			return "", "", fmt.Errorf("model %q: %s", ref.Ref, pipecheck.ModelRefHelp)
		}
	}
	return c.id("models/" + seg(name) + "/versions/" + seg(version)), name + ":" + version, nil
}

func (c *call) instanceType() string {
	if c.InstanceType != "" {
		return c.InstanceType
	}
	return deployInstanceType
}

func deployConfig(c *call) (deploy.Config, string, string, error) {
	var cfg deploy.Config
	if err := c.req.Decode(&cfg); err != nil {
		return cfg, "", "", err
	}
	id, shown, err := c.modelID(cfg.Model)
	return cfg, id, shown, err
}

func endpointOutput(name, shown string, e *endpointResource) artifact.Endpoint {
	return artifact.Endpoint{Name: name, ScoringURI: e.Properties.ScoringURI, SwaggerURI: e.Properties.SwaggerURI, Model: shown}
}

// reconcileDeploy: an endpoint whose one deployment serves this model on
// this VM size, provisioned, with all the traffic, is left alone.
func reconcileDeploy(ctx context.Context, c *call) (engine.Outputs, bool, error) {
	cfg, id, shown, err := deployConfig(c)
	if err != nil {
		return nil, false, err
	}
	var e endpointResource
	if err := c.arm(ctx, "GET", "onlineEndpoints/"+seg(cfg.Name), nil, &e, false); err != nil {
		if notFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	var d deploymentResource
	if err := c.arm(ctx, "GET", "onlineEndpoints/"+seg(cfg.Name)+"/deployments/"+deploymentName, nil, &d, false); err != nil {
		if notFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	same := strings.EqualFold(d.Properties.Model, id) && d.Properties.InstanceType == c.instanceType() &&
		d.Properties.ProvisioningState == "Succeeded" && e.Properties.ProvisioningState == "Succeeded" &&
		e.Properties.Traffic[deploymentName] == 100
	if !same {
		return nil, false, nil
	}
	c.req.Logf("unchanged: endpoint %s already serves %s", cfg.Name, shown)
	return engine.Outputs{"endpoint": endpointOutput(cfg.Name, shown, &e)}, true, nil
}

// runDeploy creates (or updates) the endpoint without traffic, then its
// deployment, then gives the deployment all the traffic with a second full
// PUT of the endpoint (Azure refuses traffic to a deployment that does not
// exist yet, and PATCH carries only tags and identity).
func runDeploy(ctx context.Context, c *call) (engine.Outputs, error) {
	cfg, id, shown, err := deployConfig(c)
	if err != nil {
		return nil, err
	}
	loc, err := c.location(ctx)
	if err != nil {
		return nil, err
	}
	esub := "onlineEndpoints/" + seg(cfg.Name)
	tags := c.tags()
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	props := map[string]any{"authMode": "Key"}
	if desc := c.description(); desc != "" {
		props["description"] = desc
	}
	endpoint := map[string]any{"location": loc, "identity": map[string]any{"type": "SystemAssigned"}, "tags": tags, "properties": props}
	if err := c.record("onlineEndpoints", cfg.Name, c.id(esub)); err != nil {
		return nil, err
	}
	if err := c.arm(ctx, "PUT", esub, endpoint, nil, true); err != nil {
		return nil, err
	}
	c.req.Logf("endpoint %s provisioned", cfg.Name)
	dsub := esub + "/deployments/" + deploymentName
	dep := map[string]any{
		"location": loc,
		"sku":      map[string]any{"name": "Default", "capacity": 1},
		"tags":     tags,
		"properties": map[string]any{
			"endpointComputeType": "Managed",
			"model":               id,
			"instanceType":        c.instanceType(),
			"scaleSettings":       map[string]any{"scaleType": "Default"},
		},
	}
	if err := c.record("onlineEndpoints/deployments", cfg.Name+"/"+deploymentName, c.id(dsub)); err != nil {
		return nil, err
	}
	if err := c.arm(ctx, "PUT", dsub, dep, nil, true); err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", cfg.Name, deploymentName, err)
	}
	c.req.Logf("deployment %s/%s provisioned with %s", cfg.Name, deploymentName, shown)
	props2 := map[string]any{"authMode": "Key", "traffic": map[string]int{deploymentName: 100}}
	if desc := c.description(); desc != "" {
		props2["description"] = desc
	}
	endpoint["properties"] = props2
	var e endpointResource
	if err := c.arm(ctx, "PUT", esub, endpoint, &e, true); err != nil {
		return nil, err
	}
	if c.dry {
		e.Properties.ScoringURI = "${{ onlineEndpoints." + cfg.Name + ".scoringUri }}"
	}
	c.req.Logf("endpoint %s: all traffic to %s; scoring at %s", cfg.Name, deploymentName, e.Properties.ScoringURI)
	return engine.Outputs{"endpoint": endpointOutput(cfg.Name, shown, &e)}, nil
}
