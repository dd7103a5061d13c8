package fakeazure

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTickFiresSchedulesAsTheirTriggersSay(t *testing.T) {
	s := Start(t)
	c := s.Client()
	tok := armToken(t, c)
	jobDef := `{"jobType": "Pipeline", "inputs": {"data": {"jobInputType": "mltable", "uri": "azureml://datastores/workspaceblobstore/paths/d"}},
		"jobs": {"train": {"type": "automl", "task": "classification", "training_data": "${{parent.inputs.data}}", "target_column_name": "y"}}}`
	for name, trigger := range map[string]string{
		"nightly": `{"triggerType": "Cron", "expression": "0 6 * * *", "timeZone": "UTC"}`,
		"hourly":  `{"triggerType": "Recurrence", "frequency": "Hour", "interval": 6, "startTime": "2030-01-01T00:00:00"}`,
		"weekly":  `{"triggerType": "Recurrence", "frequency": "Week", "interval": 1, "schedule": {"hours": [9], "minutes": [30], "weekDays": ["Monday"]}}`,
	} {
		body := `{"properties": {"displayName": "` + name + `", "isEnabled": true, "trigger": ` + trigger +
			`, "action": {"actionType": "CreateJob", "jobDefinition": ` + jobDef + `}}}`
		resp, b := put(t, c, tok, armURL(workspacePath+"/schedules/"+name), body)
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %s %s", name, resp.Status, b)
		}
		// The schedule is provisioned once its operation has been polled to the end.
		for i := 0; i < 5; i++ {
			req, _ := http.NewRequest("GET", resp.Header.Get("Azure-AsyncOperation"), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			r2, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r2.Body.Close()
		}
	}
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // a Tuesday
	names, err := s.Tick(from, from.Add(7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var nightly, hourly, weekly int
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "nightly-"):
			nightly++
		case strings.HasPrefix(n, "hourly-"):
			hourly++
		case strings.HasPrefix(n, "weekly-"):
			weekly++
		}
	}
	// 7 mornings; every 6 h from the start, which is `from` itself and so not in
	// (from, to]: 4 a day for 7 days; one Monday 09:30.
	if nightly != 7 || hourly != 28 || weekly != 1 {
		t.Fatalf("nightly %d, hourly %d, weekly %d: %v", nightly, hourly, weekly, names)
	}
	if j := s.Resource("jobs/" + names[0]); j == nil || j["properties"].(map[string]any)["status"] != "NotStarted" {
		t.Fatalf("job %s = %v", names[0], j)
	}
}

func TestBatchInvokeCreatesAPipelineJob(t *testing.T) {
	s := Start(t)
	c := s.Client()
	tok := armToken(t, c)
	resp, b := put(t, c, tok, armURL(workspacePath+"/batchEndpoints/train"),
		`{"location": "westeurope", "properties": {"authMode": "AADToken"}}`)
	if resp.StatusCode != 201 || !strings.Contains(b, `"scoringUri":"https://train.westeurope.inference.ml.azure.com/jobs"`) {
		t.Fatalf("%s %s", resp.Status, b)
	}
	invoke := func(token string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", "https://train.westeurope.inference.ml.azure.com/jobs",
			strings.NewReader(`{"properties": {"InputData": {"rows": {"JobInputType": "Literal", "Value": "10"}}}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var sb strings.Builder
		_, _ = io.Copy(&sb, r.Body)
		return r, sb.String()
	}
	if r, body := invoke(tok); r.StatusCode != 401 {
		t.Errorf("an ARM token was taken for a batch endpoint: %s %s", r.Status, body)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {ClientSecret},
		"scope": {"https://ml.azure.com/.default"}}
	tr, err := c.PostForm("https://login.fakeazure.test/"+TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var mlTok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(tr.Body).Decode(&mlTok)
	tr.Body.Close()
	r, body := invoke(mlTok.AccessToken)
	if r.StatusCode != 200 || !strings.Contains(body, `"jobType":"Pipeline"`) || !strings.Contains(body, `"jobInputType":"literal"`) {
		t.Fatalf("%s %s", r.Status, body)
	}
}
