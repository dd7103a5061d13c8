package server

import (
	"context"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// TestInputsTypicalExamples: the handler's example values come from the
// training data's profile (median, most frequent category, majority
// boolean), never from the artifact's per-input example, which is the
// first training row's cell; without a profile they are left to the
// handler's neutral values.
func TestInputsTypicalExamples(t *testing.T) {
	const data = `age,income,job,member,y
31,10.5,admin,true,a
40,11.5,tech,false,b
52,12.5,tech,true,a
58,99.5,tech,true,b
`
	f, err := tabular.ReadCSV(context.Background(), strings.NewReader(data), tabular.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ins := []model.Input{
		{Name: "age", Type: "integer", Example: "first-row-age"},
		{Name: "income", Type: "number", Example: "first-row-income"},
		{Name: "job", Type: "string", Levels: []string{"tech", "admin"}, Example: "first-row-job"},
		{Name: "member", Type: "boolean", Levels: []string{"false", "true"}, Example: "first-row-member"},
		{Name: "absent", Type: "number", Example: "first-row-absent"},
	}
	got := Inputs(ins, f.Profile())
	want := []any{int64(46), 12.0, "tech", true, nil} // age's median 46 (40 and 52), income's 12
	for i, in := range got {
		if in.Example != want[i] {
			t.Errorf("%s: example %#v, want %#v", in.Name, in.Example, want[i])
		}
		if in.Name != ins[i].Name || in.Type != ins[i].Type || len(in.Levels) != len(ins[i].Levels) {
			t.Errorf("input %d: %+v, from %+v", i, in, ins[i])
		}
	}
	for _, in := range Inputs(ins, nil) {
		if in.Example != nil {
			t.Errorf("%s without a profile: example %#v, want nil", in.Name, in.Example)
		}
	}
}
