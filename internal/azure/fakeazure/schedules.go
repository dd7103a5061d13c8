package fakeazure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Tick fires the enabled, provisioned schedules whose trigger falls in (from, to]: each
// firing creates a job from the schedule's CreateJob action, named SCHEDULE-UNIXTIME, as
// Azure's scheduler would. Times are taken in UTC whatever the trigger's timeZone (the
// fake knows no Windows zone names); a Recurrence without a schedule fires every interval
// from its startTime. It returns the names of the jobs created, in order.
func (s *Server) Tick(from, to time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for k, res := range s.res {
		if !strings.HasPrefix(k, "schedules/") || strings.Count(k, "/") != 1 {
			continue
		}
		props, _ := res["properties"].(map[string]any)
		if enabled, ok := props["isEnabled"].(bool); (ok && !enabled) || props["provisioningState"] != "Succeeded" {
			continue
		}
		times, err := firings(props["trigger"], from.UTC(), to.UTC())
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %v", res["name"], err)
		}
		action, _ := props["action"].(map[string]any)
		def, _ := action["jobDefinition"].(map[string]any)
		if t, _ := action["actionType"].(string); !strings.EqualFold(t, "CreateJob") || def == nil {
			continue // InvokeBatchEndpoint and CreateMonitor are not played
		}
		for _, at := range times {
			name := fmt.Sprintf("%s-%d", res["name"], at.Unix())
			var copyDef map[string]any
			b, _ := json.Marshal(def)
			_ = json.Unmarshal(b, &copyDef)
			res := s.stored("jobs/"+name, map[string]any{"properties": copyDef})
			jp := res["properties"].(map[string]any)
			jp["status"] = jobStates[0]
			jt, _ := jp["jobType"].(string)
			j := &job{states: jobStates, automl: strings.EqualFold(jt, "AutoML"), command: strings.EqualFold(jt, "Command")}
			if strings.EqualFold(jt, "Pipeline") {
				j.pipeline = true
				// A firing whose job Azure cannot run is recorded as a failed job, not
				// refused: no one is there to receive a 400.
				errs := s.checkPipelineJob(jp)
				if len(errs) == 0 {
					var nodes map[string]any
					nodes, errs = s.resolvePipelineJob(jp)
					s.resolved[strings.ToLower(name)] = nodes
				}
				if len(errs) > 0 {
					j.states = []string{"Failed"}
					jp["status"] = "Failed"
					jp["error"] = map[string]any{"code": "UserError", "message": strings.Join(errs, "; ")}
				}
			}
			s.res[s.key("jobs/"+name)] = res
			s.jobs[strings.ToLower(name)] = j
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// firings lists the times in (from, to] at which a trigger fires.
func firings(trigger any, from, to time.Time) ([]time.Time, error) {
	t, _ := trigger.(map[string]any)
	start, origin := from, from
	if st, _ := t["startTime"].(string); st != "" {
		p, err := time.Parse("2006-01-02T15:04:05", st)
		if err != nil {
			return nil, fmt.Errorf("startTime %q: %v", st, err)
		}
		origin = p
		if p.After(start) { // a firing at the start time itself counts
			start = p.Add(-time.Nanosecond)
		}
	}
	end := to
	if et, _ := t["endTime"].(string); et != "" {
		p, err := time.Parse("2006-01-02T15:04:05", et)
		if err != nil {
			return nil, fmt.Errorf("endTime %q: %v", et, err)
		}
		if p.Before(end) {
			end = p
		}
	}
	var next func(time.Time) time.Time
	switch tt, _ := t["triggerType"].(string); strings.ToLower(tt) {
	case "cron":
		expr, _ := t["expression"].(string)
		sched, err := cron.ParseStandard(expr)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %v", expr, err)
		}
		next = sched.Next
	case "recurrence":
		every, err := recurrence(t)
		if err != nil {
			return nil, err
		}
		if every.sched != nil {
			next = every.sched.Next
		} else {
			next = func(after time.Time) time.Time {
				n := origin
				for !n.After(after) {
					n = n.Add(every.step)
				}
				return n
			}
		}
	default:
		return nil, fmt.Errorf("triggerType %q", tt)
	}
	var out []time.Time
	for at := next(start); !at.After(end) && len(out) < 1000; at = next(at) {
		out = append(out, at)
	}
	return out, nil
}

type every struct {
	step  time.Duration
	sched cron.Schedule
}

// recurrence turns a Recurrence trigger into a step or, with a schedule of hours and
// minutes, a cron schedule (weekDays for weekly ones; monthDays for monthly ones).
func recurrence(t map[string]any) (every, error) {
	freq, _ := t["frequency"].(string)
	n, _ := t["interval"].(float64)
	if n < 1 {
		n = 1
	}
	unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}[strings.ToLower(freq)]
	sc, _ := t["schedule"].(map[string]any)
	if sc == nil {
		if unit == 0 {
			return every{}, fmt.Errorf("recurrence frequency %q without a schedule is not played", freq)
		}
		return every{step: time.Duration(n) * unit}, nil
	}
	join := func(key string) string {
		var parts []string
		for _, v := range list(sc[key]) {
			switch x := v.(type) {
			case float64:
				parts = append(parts, fmt.Sprint(int(x)))
			case string:
				parts = append(parts, strings.ToLower(x[:min(3, len(x))]))
			}
		}
		if len(parts) == 0 {
			return "*"
		}
		return strings.Join(parts, ",")
	}
	expr := join("minutes") + " " + join("hours") + " " + join("monthDays") + " * " + join("weekDays")
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return every{}, fmt.Errorf("recurrence schedule %v: %v", sc, err)
	}
	return every{sched: sched}, nil
}

// batchInvoke plays POST {batch endpoint scoringUri}: with an Entra token for Azure ML,
// it creates a pipeline job from the endpoint's default deployment and answers it.
func (s *Server) batchInvoke(w http.ResponseWriter, r *http.Request, ep string, body []byte) {
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	scope, ok := s.tokens[auth]
	s.mu.Unlock()
	if !ok || !strings.Contains(scope, "ml.azure.com") {
		armError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "batch endpoints take an Entra token for https://ml.azure.com")
		return
	}
	var in struct {
		Properties struct {
			InputData map[string]map[string]any `json:"InputData"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		armError(w, http.StatusBadRequest, "BadRequest", "request body: "+err.Error())
		return
	}
	inputs := map[string]any{}
	for k, v := range in.Properties.InputData {
		m := map[string]any{}
		for kk, vv := range v { // the invocation spells JobInputType, Uri, Value
			m[strings.ToLower(kk[:1])+kk[1:]] = vv
		}
		if t, _ := m["jobInputType"].(string); t != "" {
			m["jobInputType"] = map[string]string{"urifolder": "uri_folder", "urifile": "uri_file", "literal": "literal"}[strings.ToLower(t)]
		}
		inputs[k] = m
	}
	if errs := Validate("PipelineJob", map[string]any{"jobType": "Pipeline", "inputs": inputs}); len(errs) > 0 {
		s.problem("batch invoke %s: %s", ep, strings.Join(errs, "; "))
		armError(w, http.StatusBadRequest, "UserError", strings.Join(errs, "; "))
		return
	}
	s.mu.Lock()
	props := map[string]any{"jobType": "Pipeline", "inputs": inputs, "status": jobStates[0], "experimentName": ep}
	var nodes map[string]any
	// The job runs the component of the endpoint's default deployment, its inputs
	// bound to the invocation's: a component input left unbound is Azure's 400.
	if comp := s.batchComponent(ep); comp != "" {
		node := map[string]any{}
		for k := range inputs {
			node[k] = map[string]any{"job_input_type": "literal", "value": "${{parent.inputs." + k + "}}"}
		}
		props["jobs"] = map[string]any{"pipeline": map[string]any{"type": "pipeline", "componentId": comp, "inputs": node}}
		errs := s.checkPipelineJob(props)
		if len(errs) == 0 {
			nodes, errs = s.resolvePipelineJob(props)
		}
		if len(errs) > 0 {
			s.mu.Unlock()
			armError(w, http.StatusBadRequest, "UserError", strings.Join(errs, "; "))
			return
		}
	}
	s.seq++
	name := fmt.Sprintf("batchjob-%d", s.seq)
	if nodes != nil {
		s.resolved[name] = nodes
	}
	res := s.stored("jobs/"+name, map[string]any{"properties": props})
	s.res[s.key("jobs/"+name)] = res
	s.jobs[name] = &job{states: jobStates}
	b, _ := json.Marshal(res)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

// batchComponent is the component id of a batch endpoint's default PipelineComponent
// deployment, "" when it has none (under s.mu).
func (s *Server) batchComponent(ep string) string {
	e := s.res[s.key("batchEndpoints/"+ep)]
	props, _ := e["properties"].(map[string]any)
	defaults, _ := props["defaults"].(map[string]any)
	dep, _ := defaults["deploymentName"].(string)
	if dep == "" {
		return ""
	}
	d := s.res[s.key("batchEndpoints/"+ep+"/deployments/"+dep)]
	dp, _ := d["properties"].(map[string]any)
	conf, _ := dp["deploymentConfiguration"].(map[string]any)
	id, _ := conf["componentId"].(map[string]any)
	asset, _ := id["assetId"].(string)
	return asset
}
