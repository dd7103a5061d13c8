package fakeazure

import (
	"encoding/json"
	"strings"
	"testing"
)

func body(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

const goodJob = `{"properties": {"jobType": "AutoML", "experimentName": "bank",
  "identity": {"identityType": "AMLToken"},
  "taskDetails": {"taskType": "Classification", "targetColumnName": "y", "primaryMetric": "AUCWeighted",
    "trainingData": {"jobInputType": "mltable", "uri": "azureml://datastores/d/paths/bank"},
    "limitSettings": {"timeout": "PT1H", "maxTrials": 20}}}}`

func TestValidateAcceptsAGoodBody(t *testing.T) {
	if errs := Validate("JobBase", body(t, goodJob)); len(errs) > 0 {
		t.Fatal(errs)
	}
	ep := `{"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {"authMode": "Key", "traffic": {"blue": 100}}}`
	if errs := Validate("OnlineEndpoint", body(t, ep)); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func TestValidateRefusesBadBodies(t *testing.T) {
	for _, tc := range []struct {
		name, def, body, want string
	}{
		{"missing required", "JobBase",
			strings.Replace(goodJob, `"trainingData": {"jobInputType": "mltable", "uri": "azureml://datastores/d/paths/bank"},`, "", 1),
			"properties.taskDetails.trainingData: missing required property"},
		{"missing discriminator", "JobBase", `{"properties": {"experimentName": "x"}}`,
			"properties.jobType: missing required property"},
		{"wrong discriminator value", "JobBase", strings.Replace(goodJob, `"taskType": "Classification"`, `"taskType": "Clustering"`, 1),
			`properties.taskDetails.taskType: "Clustering" is not a known AutoMLVertical (one of Classification, Regression)`},
		{"wrong nested discriminator", "JobBase", strings.Replace(goodJob, `"jobInputType": "mltable"`, `"jobInputType": "csv"`, 1),
			`properties.taskDetails.trainingData.jobInputType: "csv" is not a known MLTableJobInput`},
		{"wrong type", "JobBase", strings.Replace(goodJob, `"maxTrials": 20`, `"maxTrials": "20"`, 1),
			`properties.taskDetails.limitSettings.maxTrials: want an integer, got the string "20"`},
		{"not an integer", "JobBase", strings.Replace(goodJob, `"maxTrials": 20`, `"maxTrials": 2.5`, 1),
			"properties.taskDetails.limitSettings.maxTrials: want an integer, got 2.5"},
		{"read-only sent", "JobBase", strings.Replace(goodJob, `"jobType": "AutoML",`, `"jobType": "AutoML", "status": "Completed",`, 1),
			"properties.status: is read-only and may not be sent"},
		{"tracked resource without location", "OnlineEndpoint", `{"properties": {"authMode": "Key"}}`,
			"location: missing required property"},
		{"closed enum", "OnlineDeployment", `{"location": "w", "sku": {"name": "Default", "tier": "Gold"}, "properties": {"endpointComputeType": "Managed"}}`,
			`sku.tier: "Gold" is not one of Free, Basic, Standard, Premium`},
		{"object expected", "Schedule", `{"properties": {"action": "run", "trigger": {"triggerType": "Cron", "expression": "0 6 * * *"}}}`,
			"properties.action: want an object (ScheduleActionBase), got the string \"run\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(tc.def, body(t, tc.body))
			joined := strings.Join(errs, "\n")
			if !strings.Contains(joined, tc.want) {
				t.Fatalf("errors:\n%s\nwant one containing %q", joined, tc.want)
			}
		})
	}
}

func TestValidateMatchesEnumsAndDiscriminatorsIgnoringCase(t *testing.T) {
	b := strings.Replace(goodJob, `"jobType": "AutoML"`, `"jobType": "automl"`, 1)
	if errs := Validate("JobBase", body(t, b)); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func TestVendoredSpecIsComplete(t *testing.T) {
	s, err := vendoredSpec()
	if err != nil {
		t.Fatal(err)
	}
	// Every $ref must name a vendored definition: a dangling one would pass anything.
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"]; ok {
				if _, ok := s.defs[refName(map[string]any{"$ref": r})]; !ok {
					t.Errorf("%s: $ref %v is not vendored", where, r)
				}
			}
			for k, y := range x {
				walk(where+"."+k, y)
			}
		case []any:
			for _, y := range x {
				walk(where, y)
			}
		}
	}
	for name, d := range s.defs {
		walk(name, d)
	}
}
