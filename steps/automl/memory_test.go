package automl_test

import (
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/ml/automl"
	step "github.com/mlflow-go/mlflow/steps/automl"
)

func TestMemoryOption(t *testing.T) {
	ds := artifact.Dataset{Name: "d", Version: 1, Digest: "sha256:00", Target: "y"}
	c := step.Config{Dataset: ds, Task: "classification", Memory: "1.5GiB"}
	o, err := c.Options("train")
	if err != nil || o.Memory != 3<<29 {
		t.Errorf("memory 1.5GiB: %d, %v", o.Memory, err)
	}
	c.Memory = ""
	if o, err = c.Options("train"); err != nil || o.Memory != int64(float64(automl.MachineMemory())*automl.DefaultMemoryFraction) || o.Memory <= 0 {
		t.Errorf("default memory: %d, %v (machine %d)", o.Memory, err, automl.MachineMemory())
	}
	c.Memory = "2 gigs"
	if _, err = c.Options("train"); err == nil || !strings.HasPrefix(err.Error(), "memory: ") {
		t.Errorf("memory \"2 gigs\": %v, want an error naming the field", err)
	}
}
