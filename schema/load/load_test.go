package load

import (
	"github.com/mlflow-go/mlflow/schema"

	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The same workflow in the three formats: every format must load to the
// same Go values.
var goodSources = map[string]string{
	".cue": `name: "good"
params: {
	budget:  *"30s" | string
	n:       3
	rate:    0.5
	verbose: false
}
steps: {
	data: {kind: "dataset", source: "d.csv", target: "y", na_values: ["NA"], schema: {age: "numeric"}}
	train: {
		kind:       "automl"
		dataset:    "${{ steps.data.outputs.dataset }}"
		task:       "classification"
		budget:     "${{ params.budget }}"
		max_trials: "${{ params.n }}"
		validation: "${{ params.rate }}"
		ensemble:   "${{ params.verbose }}"
		name:       "m-${{ params.n }}"
		timeout:    "90s"
		retry: {attempts: 3, backoff: "10ms"}
	}
	report: {
		kind:        "exec"
		command:     ["echo", "model=${{ steps.train.outputs.model }}", "${{ steps.train.outputs.metrics }}"]
		needs:       ["data"]
		cache:       false
		description: "print"
	}
}
`,
	".yaml": `name: good
params:
  budget: 30s
  n: 3
  rate: 0.5
  verbose: false
steps:
  data:
    kind: dataset
    source: d.csv
    target: "y"
    na_values: [NA]
    schema: {age: numeric}
  train:
    kind: automl
    dataset: ${{ steps.data.outputs.dataset }}
    task: classification
    budget: ${{ params.budget }}
    max_trials: ${{ params.n }}
    validation: ${{ params.rate }}
    ensemble: ${{ params.verbose }}
    name: m-${{ params.n }}
    timeout: 90s
    retry: {attempts: 3, backoff: 10ms}
  report:
    kind: exec
    command: [echo, "model=${{ steps.train.outputs.model }}", "${{ steps.train.outputs.metrics }}"]
    needs: [data]
    cache: false
    description: print
`,
	".json": `{
  "name": "good",
  "params": {"budget": "30s", "n": 3, "rate": 0.5, "verbose": false},
  "steps": {
    "data": {"kind": "dataset", "source": "d.csv", "target": "y", "na_values": ["NA"], "schema": {"age": "numeric"}},
    "train": {
      "kind": "automl",
      "dataset": "${{ steps.data.outputs.dataset }}",
      "task": "classification",
      "budget": "${{ params.budget }}",
      "max_trials": "${{ params.n }}",
      "validation": "${{ params.rate }}",
      "ensemble": "${{ params.verbose }}",
      "name": "m-${{ params.n }}",
      "timeout": "90s",
      "retry": {"attempts": 3, "backoff": "10ms"}
    },
    "report": {
      "kind": "exec",
      "command": ["echo", "model=${{ steps.train.outputs.model }}", "${{ steps.train.outputs.metrics }}"],
      "needs": ["data"],
      "cache": false,
      "description": "print"
    }
  }
}
`,
}

// stripPos removes positions, which differ between formats.
func stripPos(v any) any {
	switch x := v.(type) {
	case schema.Ref:
		if x.Pos.Line == 0 {
			panic("ref without position: " + x.String())
		}
		x.Pos = schema.Pos{}
		return x
	case schema.Template:
		parts := make([]any, len(x.Parts))
		for i, p := range x.Parts {
			parts[i] = stripPos(p)
		}
		return schema.Template{Parts: parts}
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = stripPos(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripPos(e)
		}
		return out
	}
	return v
}

func TestLoadFormats(t *testing.T) {
	for _, ext := range []string{".cue", ".yaml", ".json"} {
		t.Run(ext, func(t *testing.T) {
			wf, err := Bytes("good"+ext, []byte(goodSources[ext]), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if wf.Name != "good" || wf.Target != "local" {
				t.Errorf("name, target = %q, %q", wf.Name, wf.Target)
			}
			wantParams := map[string]any{"budget": "30s", "n": int64(3), "rate": 0.5, "verbose": false}
			if !reflect.DeepEqual(wf.Params, wantParams) {
				t.Errorf("params = %#v, want %#v", wf.Params, wantParams)
			}
			if got := strings.Join(wf.Order, " "); got != "data report train" {
				t.Errorf("order = %s", got)
			}
			data, train, report := wf.Steps["data"], wf.Steps["train"], wf.Steps["report"]
			if data.Kind != "dataset" || len(data.Needs) != 0 || !data.Cache || data.Retry.Attempts != 1 {
				t.Errorf("data = %+v", data)
			}
			wantData := map[string]any{"source": "d.csv", "target": "y", "na_values": []any{"NA"}, "schema": map[string]any{"age": "numeric"}}
			if !reflect.DeepEqual(data.Config, wantData) {
				t.Errorf("data config = %#v", data.Config)
			}
			if train.Timeout != 90*time.Second || train.Retry != (schema.Retry{Attempts: 3, Backoff: 10 * time.Millisecond}) {
				t.Errorf("train timeout, retry = %v, %+v", train.Timeout, train.Retry)
			}
			if !reflect.DeepEqual(train.Needs, []string{"data"}) {
				t.Errorf("train needs = %v", train.Needs)
			}
			wantTrain := map[string]any{
				"dataset":    schema.Ref{Step: "data", Output: "dataset", Type: "dataset"},
				"task":       "classification",
				"budget":     "30s",
				"max_trials": int64(3),
				"validation": 0.5,
				"ensemble":   false,
				"name":       "m-3",
			}
			if got := stripPos(train.Config); !reflect.DeepEqual(got, wantTrain) {
				t.Errorf("train config =\n%#v\nwant\n%#v", got, wantTrain)
			}
			if report.Cache || report.Description != "print" || !reflect.DeepEqual(report.Needs, []string{"data", "train"}) {
				t.Errorf("report = %+v", report)
			}
			wantCmd := []any{
				"echo",
				schema.Template{Parts: []any{"model=", schema.Ref{Step: "train", Output: "model", Type: "model"}}},
				schema.Ref{Step: "train", Output: "metrics", Type: "metrics"},
			}
			if got := stripPos(report.Config["command"]); !reflect.DeepEqual(got, wantCmd) {
				t.Errorf("report command =\n%#v\nwant\n%#v", got, wantCmd)
			}
			ref := train.Config["dataset"].(schema.Ref)
			if ref.Pos.File != "good"+ext || ref.Pos.Line < 5 {
				t.Errorf("ref position %v: want a line of good%s", ref.Pos, ext)
			}
			if train.Pos.File != "good"+ext || train.Pos.Line < 5 {
				t.Errorf("step position %v", train.Pos)
			}
		})
	}
}

func TestParamOverrides(t *testing.T) {
	p := map[string]string{"budget": "10s", "n": "5", "rate": "0.25", "verbose": "true"}
	for _, ext := range []string{".cue", ".yaml", ".json"} {
		t.Run(ext, func(t *testing.T) {
			wf, err := Bytes("good"+ext, []byte(goodSources[ext]), Options{Params: p})
			if err != nil {
				t.Fatal(err)
			}
			c := wf.Steps["train"].Config
			want := map[string]any{"budget": "10s", "max_trials": int64(5), "validation": 0.25, "ensemble": true, "name": "m-5"}
			for k, v := range want {
				if !reflect.DeepEqual(c[k], v) {
					t.Errorf("%s = %#v, want %#v", k, c[k], v)
				}
			}
			if wf.Params["n"] != int64(5) || wf.Params["verbose"] != true {
				t.Errorf("params = %v", wf.Params)
			}
		})
	}
}

// A native CUE reference to a param sees the override: it is unified
// into params before evaluation.
func TestNativeParamReference(t *testing.T) {
	path := filepath.Join("testdata", "bankmarketing.cue")
	wf, err := File(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := wf.Steps["train"].Config["budget"]; got != "60s" {
		t.Errorf("default budget = %v", got)
	}
	wf, err = File(path, Options{Params: map[string]string{"budget": "30s", "requests": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := wf.Steps["train"].Config["budget"]; got != "30s" {
		t.Errorf("overridden budget = %v", got)
	}
	if got := wf.Steps["load"].Config["requests"]; got != int64(100) {
		t.Errorf("overridden requests = %#v", got)
	}
	// assert keeps CUE bounds as the strings YAML users write.
	want := map[string]any{"p99_ms": "<5", "error_rate": int64(0)}
	if got := wf.Steps["load"].Config["assert"]; !reflect.DeepEqual(got, want) {
		t.Errorf("assert = %#v, want %#v", got, want)
	}
	if !reflect.DeepEqual(wf.Steps["logs"].Needs, []string{"deploy", "load"}) {
		t.Errorf("logs needs = %v", wf.Steps["logs"].Needs)
	}
	if got := wf.Steps["deploy"].Config["auth"]; got != "key" {
		t.Errorf("deploy auth = %v", got)
	}
	abs, _ := filepath.Abs(path)
	if wf.File != abs || wf.Dir != filepath.Dir(abs) {
		t.Errorf("file, dir = %s, %s", wf.File, wf.Dir)
	}
}

// errCases: one user error each, in the formats where it can be written.
// want maps a format to a regexp the error must match, position included.
var errCases = []struct {
	name   string
	srcs   map[string]string
	params map[string]string
	want   map[string]string
}{
	{
		name: "unknown kind",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a: {kind: frob}\n",
			".json": "{\"name\": \"w\",\n \"steps\": {\"a\": {\"kind\": \"frob\"}}}\n",
			".cue":  "name: \"w\"\nsteps: a: kind: \"frob\"\n",
		},
		want: map[string]string{
			".yaml": `^F:3:7: steps\.a\.kind: unknown step kind "frob" \(kinds: automl, benchmark, consume, dataset, deploy, evaluate, exec, logs, publish\)$`,
			".json": `^F:2:19: steps\.a\.kind: unknown step kind "frob"`,
			".cue":  `^F:2:11: steps\.a\.kind: unknown step kind "frob"`,
		},
	},
	{
		name: "unknown field",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a:\n    kind: exec\n    command: [x]\n    comand: [y]\n",
			".json": "{\"name\": \"w\", \"steps\": {\n  \"a\": {\"kind\": \"exec\", \"command\": [\"x\"],\n        \"comand\": [\"y\"]}}}\n",
			".cue":  "name: \"w\"\nsteps: a: {\n\tkind: \"exec\"\n\tcommand: [\"x\"]\n\tcomand: [\"y\"]\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:6:5: steps\.a\.comand: unknown field \(allowed: allow_failure, cache, command, `,
			".json": `^F:3:10: steps\.a\.comand: unknown field`,
			".cue":  `^F:5:2: steps\.a\.comand: unknown field`,
		},
	},
	{
		name: "unknown top-level field beside a wrong type",
		srcs: map[string]string{".yaml": "name: 3\nbogus: 1\nsteps:\n  a: {kind: exec, command: [x]}\n"},
		want: map[string]string{".yaml": `^F:1:1: name: wrong type: got 3 \(int\), want string\nF:2:1: bogus: unknown field \(allowed: azureml, name, params, steps, target\)$`},
	},
	{
		name: "missing required field",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a:\n    kind: dataset\n    target: y\n",
			".json": "{\"name\": \"w\", \"steps\": {\n  \"a\": {\"kind\": \"dataset\", \"target\": \"y\"}}}\n",
			".cue":  "name: \"w\"\nsteps: {\n\ta: {kind: \"dataset\", target: \"y\"}\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:3:3: steps\.a\.source: missing required field$`,
			".json": `^F:2:4: steps\.a\.source: missing required field$`,
			".cue":  `^F:3:2: steps\.a\.source: missing required field$`,
		},
	},
	{
		name: "sha256 required for https",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  d: {kind: dataset, source: \"https://example.com/x.csv\"}\n"},
		want: map[string]string{".yaml": `^F:3:3: steps\.d\.sha256: missing required field$`},
	},
	{
		name: "wrong type",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a:\n    kind: exec\n    command: [x, 3]\n",
			".json": "{\"name\": \"w\", \"steps\": {\"a\": {\"kind\": \"exec\",\n  \"command\": [\"x\", 3]}}}\n",
			".cue":  "name: \"w\"\nsteps: a: {\n\tkind: \"exec\"\n\tcommand: [\"x\", 3]\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:5:18: steps\.a\.command\[1\]: wrong type: got 3 \(int\), want string$`,
			".json": `^F:2:20: steps\.a\.command\[1\]: wrong type: got 3 \(int\), want string$`,
			".cue":  `^F:4:17: steps\.a\.command\[1\]: wrong type: got 3 \(int\), want string$`,
		},
	},
	{
		name: "value out of range",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  a: {kind: benchmark, endpoint: http://e, concurrency: -2}\n"},
		want: map[string]string{".yaml": `^F:3:44: steps\.a\.concurrency: invalid value -2 \(out of bound >0\)$`},
	},
	{
		name: "enum value",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  t: {kind: automl, task: regression, dataset: d, primary_metric: AUC_weighted}\n"},
		want: map[string]string{".yaml": `^F:3:51: steps\.t\.primary_metric: invalid value "AUC_weighted": want one of "normalized_mean_absolute_error", "normalized_root_mean_squared_error", "r2_score", "spearman_correlation"$`},
	},
	{
		name: "empty list",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  a: {kind: exec, command: []}\n"},
		want: map[string]string{".yaml": `^F:3:19: steps\.a\.command: must not be empty`},
	},
	{
		name: "reference to a missing step",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  t:\n    kind: automl\n    task: regression\n    dataset: ${{ steps.dta.outputs.dataset }}\n  data: {kind: dataset, source: d.csv}\n",
			".json": "{\"name\": \"w\", \"steps\": {\n  \"t\": {\"kind\": \"automl\", \"task\": \"regression\",\n    \"dataset\": \"${{ steps.dta.outputs.dataset }}\"},\n  \"data\": {\"kind\": \"dataset\", \"source\": \"d.csv\"}}}\n",
			".cue":  "name: \"w\"\nsteps: {\n\tt: {\n\t\tkind: \"automl\", task: \"regression\"\n\t\tdataset: \"${{ steps.dta.outputs.dataset }}\"\n\t}\n\tdata: {kind: \"dataset\", source: \"d.csv\"}\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:6:5: steps\.t\.dataset: \$\{\{ steps\.dta\.outputs\.dataset \}\}: no step named "dta" \(steps: data, t\)$`,
			".json": `^F:3:6: steps\.t\.dataset: .*no step named "dta"`,
			".cue":  `^F:5:3: steps\.t\.dataset: .*no step named "dta"`,
		},
	},
	{
		name: "reference to a missing output",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  data: {kind: dataset, source: d.csv}\n  t:\n    kind: automl\n    task: regression\n    dataset: ${{ steps.data.outputs.data }}\n"},
		want: map[string]string{".yaml": `^F:7:5: steps\.t\.dataset: .*step data \(kind dataset\) has no output "data" \(outputs: dataset\)$`},
	},
	{
		name: "output of the wrong type",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  data: {kind: dataset, source: d.csv}\n  deploy:\n    kind: deploy\n    name: ep1\n    model: ${{ steps.data.outputs.dataset }}\n",
			".json": "{\"name\": \"w\", \"steps\": {\n  \"data\": {\"kind\": \"dataset\", \"source\": \"d.csv\"},\n  \"deploy\": {\"kind\": \"deploy\", \"name\": \"ep1\", \"model\": \"${{ steps.data.outputs.dataset }}\"}}}\n",
			".cue":  "name: \"w\"\nsteps: {\n\tdata: {kind: \"dataset\", source: \"d.csv\"}\n\tdeploy: {\n\t\tkind: \"deploy\", name: \"ep1\"\n\t\tmodel: \"${{ steps.data.outputs.dataset }}\"\n\t}\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:7:5: steps\.deploy\.model: needs a model, steps\.data\.outputs\.dataset is a dataset$`,
			".json": `^F:3:48: steps\.deploy\.model: needs a model, steps\.data\.outputs\.dataset is a dataset$`,
			".cue":  `^F:6:3: steps\.deploy\.model: needs a model, steps\.data\.outputs\.dataset is a dataset$`,
		},
	},
	{
		name: "needs naming no step",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  a: {kind: exec, command: [x]}\n  b:\n    kind: exec\n    command: [x]\n    needs: [a, c]\n"},
		want: map[string]string{".yaml": `^F:7:16: steps\.b\.needs\[1\]: no step named "c" \(steps: a, b\)$`},
	},
	{
		name: "cycle",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a: {kind: exec, command: [x], needs: [c]}\n  b: {kind: exec, command: [x], needs: [a]}\n  c:\n    kind: exec\n    command: [\"${{ steps.b.outputs.exit_code }}\"]\n",
			".json": "{\"name\": \"w\", \"steps\": {\n  \"a\": {\"kind\": \"exec\", \"command\": [\"x\"], \"needs\": [\"c\"]},\n  \"b\": {\"kind\": \"exec\", \"command\": [\"x\"], \"needs\": [\"a\"]},\n  \"c\": {\"kind\": \"exec\", \"command\": [\"x\"], \"needs\": [\"b\"]}}}\n",
			".cue":  "name: \"w\"\nsteps: {\n\ta: {kind: \"exec\", command: [\"x\"], needs: [\"c\"]}\n\tb: {kind: \"exec\", command: [\"x\"], needs: [\"a\"]}\n\tc: {kind: \"exec\", command: [\"${{ steps.b.outputs.exit_code }}\"]}\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:3:3: steps\.a: dependency cycle: a -> c -> b -> a `,
			".json": `^F:2:4: steps\.a: dependency cycle: a -> c -> b -> a `,
			".cue":  `^F:3:2: steps\.a: dependency cycle: a -> c -> b -> a `,
		},
	},
	{
		name: "self cycle",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  a: {kind: exec, command: [\"${{ steps.a.outputs.exit_code }}\"]}\n"},
		want: map[string]string{".yaml": `^F:3:3: steps\.a: dependency cycle: a -> a `},
	},
	{
		name: "unparsable duration",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a:\n    kind: exec\n    command: [x]\n    timeout: 5 minutes\n",
			".json": "{\"name\": \"w\", \"steps\": {\"a\": {\"kind\": \"exec\", \"command\": [\"x\"],\n  \"retry\": {\"attempts\": 2, \"backoff\": \"soon\"}}}}\n",
			".cue":  "name: \"w\"\nsteps: t: {\n\tkind: \"automl\", task: \"regression\", dataset: \"d\"\n\tbudget: \"1 minute\"\n}\n",
		},
		want: map[string]string{
			".yaml": `^F:6:5: steps\.a\.timeout: unparsable duration "5 minutes": want a Go duration`,
			".json": `^F:2:29: steps\.a\.retry\.backoff: unparsable duration "soon"`,
			".cue":  `^F:4:2: steps\.t\.budget: unparsable duration "1 minute"`,
		},
	},
	{
		name: "benchmark duration",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  l: {kind: benchmark, endpoint: http://e, duration: 10x}\n"},
		want: map[string]string{".yaml": `^F:3:44: steps\.l\.duration: unparsable duration "10x"`},
	},
	{
		name: "syntax error",
		srcs: map[string]string{
			".yaml": "name: w\nsteps:\n  a: {kind: exec\n  b: 1\n",
			".json": "{\"name\": \"w\",\n \"steps\": {\"a\": {\"kind\": \"exec\",}}}\n",
			".cue":  "name: \"w\"\nsteps: {\n\ta: {kind: \"exec\" command: [\"x\"]}\n}\n",
		},
		want: map[string]string{
			// yaml.v3 reports lines only.
			".yaml": `^F:2: YAML syntax error: did not find expected ',' or '}'$`,
			".json": `^F:2:33: JSON syntax error: invalid character '}'`,
			".cue":  `^F:3:19: missing ',' in struct literal`,
		},
	},
	{
		name: "no steps",
		srcs: map[string]string{
			".yaml": "name: w\nsteps: {}\n",
			".json": "{\"name\": \"w\", \"steps\": {}}\n",
			".cue":  "name: \"w\"\nsteps: {}\n",
		},
		want: map[string]string{
			".yaml": `^F:2:1: steps: a workflow needs at least one step$`,
			".json": `^F:1:16: steps: a workflow needs at least one step$`,
			".cue":  `^F:2:1: steps: a workflow needs at least one step$`,
		},
	},
	{
		name: "empty file",
		srcs: map[string]string{".yaml": "", ".cue": ""},
		want: map[string]string{
			".yaml": `^F:1:1: name: missing required field\nF:1:1: steps: missing required field$`,
			".cue":  `name: missing required field\n.*steps: missing required field$`,
		},
	},
	{
		name: "not a mapping",
		srcs: map[string]string{".yaml": "- a\n- b\n", ".json": "[1, 2]\n"},
		want: map[string]string{
			".yaml": `^F:1:1: a workflow must be one mapping`,
			".json": `^F:1:1: a workflow must be one mapping`,
		},
	},
	{
		name:   "unknown param",
		srcs:   map[string]string{".yaml": "name: w\nparams:\n  n: 3\nsteps:\n  a: {kind: exec, command: [x]}\n"},
		params: map[string]string{"m": "1"},
		want:   map[string]string{".yaml": `^F:2:1: -p m=1: unknown param "m" \(params: n\)$`},
	},
	{
		name:   "ill-typed params",
		srcs:   map[string]string{".yaml": "name: w\nparams:\n  n: 3\n  fast: true\n  rate: 0.5\nsteps:\n  a: {kind: exec, command: [x]}\n"},
		params: map[string]string{"n": "x", "fast": "2", "rate": "fast"},
		want: map[string]string{".yaml": `^F:3:3: params\.n: -p n=x: want an integer\n` +
			`F:4:3: params\.fast: -p fast=2: want a bool \(true or false\)\n` +
			`F:5:3: params\.rate: -p rate=fast: want a number$`},
	},
	{
		name:   "param constraint",
		srcs:   map[string]string{".cue": "name: \"w\"\nparams: budget: *\"60s\" | =~\"s$\"\nsteps: a: {kind: \"exec\", command: [params.budget]}\n"},
		params: map[string]string{"budget": "10m"},
		want:   map[string]string{".cue": `^F:2:17: params\.budget: -p budget=10m: invalid value "10m" \(out of bound =~"s\$"\)$`},
	},
	{
		name: "unknown param in an expression",
		srcs: map[string]string{".yaml": "name: w\nparams: {n: 1}\nsteps:\n  a: {kind: exec, command: [\"${{ params.nope }}\"]}\n"},
		want: map[string]string{".yaml": `^F:4:29: \$\{\{ params\.nope \}\}: no such param \(params: n\)$`},
	},
	{
		name: "unknown expression",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  a: {kind: exec, command: [\"${{ inputs.x }}\"]}\n"},
		want: map[string]string{".yaml": `^F:3:29: steps\.a\.command\[0\]: unknown expression \$\{\{ inputs\.x \}\}`},
	},
	{
		name: "invalid step name",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  \"my step\": {kind: exec, command: [x]}\n"},
		want: map[string]string{".yaml": `^F:3:3: .*invalid step name "my step"`},
	},
	{
		name: "publish checks",
		srcs: map[string]string{".yaml": "name: w\nparams: {n: 1}\nsteps:\n  p: {kind: publish, name: p, steps: [a, zz], schedule: {cron: \"61 * * * *\"}, params: [nope]}\n  a: {kind: exec, command: [x]}\n"},
		want: map[string]string{".yaml": `^F:4:42: steps\.p\.steps\[1\]: no step named "zz" \(steps: a, p\)\n` +
			`F:4:58: steps\.p\.schedule\.cron: invalid cron expression "61 \* \* \* \*": .*\n` +
			`F:4:88: steps\.p\.params\[0\]: no param named "nope" \(params: n\)$`},
	},
	{
		name: "publish time zone",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  p: {kind: publish, name: p, steps: [a], schedule: {cron: \"0 3 * * *\", timezone: Mars/Olympus}}\n  a: {kind: exec, command: [x]}\n"},
		want: map[string]string{".yaml": `^F:3:73: steps\.p\.schedule\.timezone: unknown time zone "Mars/Olympus": want an IANA name such as "Europe/Paris" or "UTC"$`},
	},
	{
		name: "publish cron with its own zone",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  p: {kind: publish, name: p, steps: [a], schedule: {cron: \"CRON_TZ=UTC 0 3 * * *\"}}\n  a: {kind: exec, command: [x]}\n"},
		want: map[string]string{".yaml": `^F:3:54: steps\.p\.schedule\.cron: invalid cron expression "CRON_TZ=UTC 0 3 \* \* \*": set the time zone in timezone, not in the expression$`},
	},
	{
		name: "assert key",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  l: {kind: benchmark, endpoint: http://e, assert: {p99_ms: \"<5\", p95_ms: 3}}\n"},
		want: map[string]string{".yaml": `^F:3:67: steps\.l\.assert\.p95_ms: unknown field \(allowed: bytes, duration_ms, error_rate, `},
	},
	{
		name: "step without a kind",
		srcs: map[string]string{".yaml": "name: w\nsteps:\n  a: 3\n  b: {command: [x]}\n"},
		want: map[string]string{".yaml": `^F:3:3: steps\.a: a step must be a mapping with a kind, got 3\n` +
			`F:4:3: steps\.b\.kind: missing required field \(kinds: automl, `},
	},
	{
		name: "several YAML documents",
		srcs: map[string]string{".yaml": "name: w\nsteps: {a: {kind: exec, command: [x]}}\n---\nname: v\n"},
		want: map[string]string{".yaml": `^F:1:1: a workflow must be one mapping`},
	},
	{
		name: "azureml target without its block",
		srcs: map[string]string{".yaml": "name: w\ntarget: azureml\nsteps:\n  a: {kind: exec, command: [x]}\n"},
		want: map[string]string{".yaml": `^F:1:1: azureml: missing required field$`},
	},
}

func TestLoadErrors(t *testing.T) {
	for _, c := range errCases {
		for ext, src := range c.srcs {
			t.Run(c.name+ext, func(t *testing.T) {
				file := strings.ReplaceAll(c.name, " ", "_") + ext
				_, err := Bytes(file, []byte(src), Options{Params: c.params})
				if err == nil {
					t.Fatalf("no error")
				}
				var one *schema.Error
				var list schema.ErrorList
				if !errors.As(err, &one) && !errors.As(err, &list) {
					t.Fatalf("error %T is not a schema error: %v", err, err)
				}
				if strings.Contains(err.Error(), "schema/cue/") || strings.Contains(err.Error(), "#Kinds") {
					t.Errorf("error points into the embedded schema:\n%v", err)
				}
				want := strings.ReplaceAll(c.want[ext], "F:", regexp.QuoteMeta(file)+":")
				if !regexp.MustCompile(want).MatchString(err.Error()) {
					t.Errorf("error:\n%v\nwant match:\n%s", err, want)
				}
			})
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := File(filepath.Join(dir, "nope.cue"), Options{})
	var e *schema.Error
	if !errors.As(err, &e) || !strings.HasSuffix(err.Error(), "nope.cue: no such file") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "wf.toml")
	if err := os.WriteFile(p, []byte("name = 'w'"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = File(p, Options{})
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "wf.toml: unsupported file type (.toml): want .cue, .yaml, .yml or .json") {
		t.Errorf("extension: %v", err)
	}
	p = filepath.Join(dir, "wf.yml")
	if err := os.WriteFile(p, []byte(goodSources[".yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := File(p, Options{}); err != nil {
		t.Errorf(".yml: %v", err)
	}
}

// Several independent errors come back together, in file order.
func TestErrorsTogether(t *testing.T) {
	src := "name: w\nsteps:\n  a: {kind: frob}\n  b: {kind: exec, command: [x], bogus: 1}\n  c: {kind: exec, command: [x], needs: [zz]}\n"
	_, err := Bytes("w.yaml", []byte(src), Options{})
	var list schema.ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i, line := range []int{3, 4, 5} {
		if list[i].Pos.Line != line {
			t.Errorf("error %d at line %d, want %d: %v", i, list[i].Pos.Line, line, list[i])
		}
	}
}

func TestKinds(t *testing.T) {
	// The design's table (README section 2) with its outputs.
	want := map[string]map[string]string{
		"dataset":   {"dataset": "dataset"},
		"automl":    {"model": "model", "leaderboard": "leaderboard", "metrics": "metrics"},
		"evaluate":  {"metrics": "metrics"},
		"deploy":    {"endpoint": "endpoint"},
		"consume":   {"predictions": "predictions"},
		"benchmark": {"report": "report"},
		"logs":      {"log": "log"},
		"publish":   {"pipeline": "pipeline"},
		"exec":      {"exit_code": "number", "files": "files"},
	}
	kinds := Kinds()
	if len(kinds) != len(want) {
		t.Errorf("%d kinds, want %d", len(kinds), len(want))
	}
	produced := map[string]bool{}
	for _, k := range kinds {
		for _, typ := range k.Outputs {
			produced[typ] = true
		}
	}
	for i, k := range kinds {
		if i > 0 && kinds[i-1].Kind >= k.Kind {
			t.Errorf("kinds not sorted: %s before %s", kinds[i-1].Kind, k.Kind)
		}
		if !reflect.DeepEqual(k.Outputs, want[k.Kind]) {
			t.Errorf("%s outputs = %v, want %v", k.Kind, k.Outputs, want[k.Kind])
		}
		for field, typ := range k.Inputs {
			if !produced[typ] {
				t.Errorf("%s input %s needs a %s, which no kind produces", k.Kind, field, typ)
			}
		}
	}
	in := map[string]map[string]string{}
	for _, k := range kinds {
		in[k.Kind] = k.Inputs
	}
	if in["deploy"]["model"] != "model" || in["automl"]["dataset"] != "dataset" || in["consume"]["input.dataset"] != "dataset" {
		t.Errorf("inputs = %v", in)
	}
	// Callers get copies.
	kinds[0].Outputs["x"] = "y"
	if _, ok := Kinds()[0].Outputs["x"]; ok {
		t.Error("Kinds shares its maps")
	}
}

func TestSource(t *testing.T) {
	src := Source()
	for _, k := range Kinds() {
		if !strings.Contains(src, "// ---- "+k.Kind+".cue ----\n") {
			t.Errorf("source lacks %s.cue", k.Kind)
		}
	}
	if !strings.HasPrefix(src, "// ---- workflow.cue ----\n") || !strings.Contains(src, "#Workflow: {") {
		t.Errorf("source does not start with workflow.cue")
	}
}

func BenchmarkLoadBankmarketing(b *testing.B) {
	path := filepath.Join("testdata", "bankmarketing.cue")
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{Params: map[string]string{"budget": "30s"}}
	if _, err := Bytes(path, src, opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Bytes(path, src, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// Load is called from several goroutines (the server triggering
// pipelines); run with -race.
func TestConcurrentLoad(t *testing.T) {
	done := make(chan error)
	for i := 0; i < 4; i++ {
		go func() {
			_, err := Bytes("good.yaml", []byte(goodSources[".yaml"]), Options{Params: map[string]string{"n": "4"}})
			if err == nil {
				_, err = JSONSchema()
			}
			done <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
