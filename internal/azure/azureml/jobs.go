package azureml

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// jobResource is the part of an Azure ML job mlflow reads back.
type jobResource struct {
	Name       string `json:"name"`
	Properties struct {
		Status  string `json:"status"`
		Outputs map[string]struct {
			JobOutputType string `json:"jobOutputType"`
			URI           string `json:"uri"`
		} `json:"outputs"`
		Services map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"services"`
		// Error is how a failed job says why (absent from the spec's
		// definitions; Azure and the fake send it).
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"properties"`
}

// Job statuses: Completed is success; these end a job without it. Any
// other status, including ones newer than mlflow, is still going.
var failedStatus = map[string]bool{"Failed": true, "Canceled": true, "NotResponding": true}

// studioURL is where a person looks at the job.
func (c *call) studioURL(j *jobResource, name string) string {
	if s, ok := j.Properties.Services["Studio"]; ok && s.Endpoint != "" {
		return s.Endpoint
	}
	return "https://ml.azure.com/runs/" + url.PathEscape(name) + "?wsid=" + url.QueryEscape(c.Workspace.ID())
}

// submitJob creates job name and waits for it to end. ctx ending cancels
// the job on Azure before returning: a job left running would go on
// costing money for a run recorded as cancelled.
func (c *call) submitJob(ctx context.Context, name, what string, body any, budget time.Duration) (*jobResource, error) {
	sub := "jobs/" + seg(name)
	if err := c.record("jobs", name, c.id(sub)); err != nil {
		return nil, err
	}
	var j jobResource
	if err := c.arm(ctx, "PUT", sub, body, &j, false); err != nil {
		return nil, err
	}
	c.req.Logf("%s job %s submitted: %s", what, name, c.studioURL(&j, name))
	start := c.now()
	last := ""
	for {
		j = jobResource{}
		err := c.arm(ctx, "GET", sub, nil, &j, false)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.cancelJob(ctx, name, what)
			}
			return nil, err
		}
		st := j.Properties.Status
		if st != last {
			c.req.Logf("%s job %s: %s", what, name, st)
			last = st
		}
		if c.req.Progress != nil {
			total := budget.Seconds()
			done := c.now().Sub(start).Seconds()
			if total <= 0 || done > total {
				total = done
			}
			c.req.Progress.Update(done, total, what+" job "+st)
		}
		switch {
		case st == "Completed":
			return &j, nil
		case failedStatus[st]:
			msg := "no reason given"
			if e := j.Properties.Error; e != nil {
				msg = e.Code + ": " + e.Message
			}
			return &j, fmt.Errorf("%s job %s %s: %s (Studio: %s)", what, name, st, msg, c.studioURL(&j, name))
		case c.dry:
			return &j, nil
		}
		t := time.NewTimer(c.poll())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, c.cancelJob(ctx, name, what)
		case <-t.C:
		}
	}
}

// cancelJob asks Azure to cancel a job whose run was cancelled, on a
// context of its own (the run's has ended), and returns the run's cause.
func (c *call) cancelJob(ctx context.Context, name, what string) error {
	cause := context.Cause(ctx)
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer stop()
	if err := c.arm(cctx, "POST", "jobs/"+seg(name)+"/cancel", nil, nil, true); err != nil {
		c.req.Logf("%s job %s: cancelling it failed: %v: cancel it in Studio", what, name, err)
		return errors.Join(cause, fmt.Errorf("%s job %s may still run on Azure: %w", what, name, err))
	}
	c.req.Logf("%s job %s: cancelled on Azure", what, name)
	return fmt.Errorf("%s job %s cancelled: %w", what, name, cause)
}

// isoDuration is d as ISO 8601, in whole minutes rounded up (Azure's
// AutoML limits count minutes).
func isoDuration(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m < 1 {
		m = 1
	}
	if m >= 60 {
		if m%60 == 0 {
			return fmt.Sprintf("PT%dH", m/60)
		}
		return fmt.Sprintf("PT%dH%dM", m/60, m%60)
	}
	return fmt.Sprintf("PT%dM", m)
}
