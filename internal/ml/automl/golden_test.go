package automl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// TestGoldenTrain pins the exact artifact (and the bagged twin) of small searches through each
// way of choosing the final model: a capped ensemble with refit, the single best trial under
// a bound, a regression ensemble without refit. Reshaping the search or its assembly must not
// change a byte: the same data, config and seed promise the same model. The digests were
// computed before assemble was split into steps, again when the artifact gained its
// charts (Diagnostics, the only change then), and when the linear family's solver changed
// (preconditioned L-BFGS: the same C, weights equal to its tolerance, not to the bit); they
// hold on amd64 only, as Go fuses multiply-adds elsewhere.
func TestGoldenTrain(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("golden digests are for amd64 (other architectures fuse multiply-adds)")
	}
	cases := []struct {
		name    string
		classes int
		cfg     func(*Config)
		want    string
	}{
		{"binary capped ensemble refit", 2, func(c *Config) {
			c.MaxTrials, c.Refit, c.MaxInferenceCost, c.KeepBagged = 8, true, 1, true
		}, "c4372779af0311ea"},
		{"multiclass best single capped", 3, func(c *Config) {
			c.MaxTrials, c.Ensemble, c.MaxInferenceCost = 6, false, 20
		}, "647f487402d00d9f"},
		{"regression ensemble", 0, func(c *Config) {
			c.Task, c.MaxTrials = model.Regression, 5
		}, "4296ed7c01a3028e"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := quick(model.Classification)
			c.cfg(&cfg)
			res, err := Train(context.Background(), frame(1500, c.classes, 11), cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			h.Write(res.Bytes)
			if res.Bagged != nil {
				b, err := res.Bagged.Encode()
				if err != nil {
					t.Fatal(err)
				}
				h.Write(b)
			}
			if got := hex.EncodeToString(h.Sum(nil)[:8]); got != c.want {
				t.Errorf("artifact digest %s, want %s (%s, %d members): the same data, config and seed now give a different model",
					got, c.want, res.Model.A.Algorithm, len(res.Model.A.Members))
			}
		})
	}
}
