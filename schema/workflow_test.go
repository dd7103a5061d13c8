package schema

import (
	"slices"
	"strings"
	"testing"
)

func TestClosure(t *testing.T) {
	wf := &Workflow{Steps: map[string]*Step{
		"data":  {Name: "data"},
		"train": {Name: "train", Needs: []string{"data"}},
		"score": {Name: "score", Needs: []string{"data", "train"}},
		"other": {Name: "other"},
		"bad":   {Name: "bad", Needs: []string{"ghost"}},
	}}
	got, err := wf.Closure([]string{"score"})
	if err != nil || !slices.Equal(got, []string{"data", "score", "train"}) {
		t.Errorf("Closure(score) = %v, %v; want data, score, train", got, err)
	}
	if got, err := wf.Closure(nil); err != nil || len(got) != 0 {
		t.Errorf("Closure(nil) = %v, %v", got, err)
	}
	if _, err := wf.Closure([]string{"bad"}); err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("a need of no step: %v, want an error naming it", err)
	}
}
