package automl

import (
	"context"
	"math"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/model"
)

// A trained model carries the charts of its out-of-fold predictions: the same predictions
// its metrics come from, so the ROC areas give back its AUC_weighted.
func TestModelCarriesDiagnostics(t *testing.T) {
	for _, classes := range []int{2, 3} {
		cfg := quick(model.Classification)
		cfg.MaxTrials, cfg.Validation = 2, Validation{Folds: 3}
		res, err := Train(context.Background(), frame(800, classes, 4), cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := res.Model.A.Diagnostics
		if d == nil {
			t.Fatalf("%d classes: the model has no diagnostics", classes)
		}
		if d.Rows != 800 || len(d.Confusion) != classes {
			t.Errorf("%d classes: charts of %d rows and a %d-row confusion matrix, want 800 and %d", classes, d.Rows, len(d.Confusion), classes)
		}
		// AUC_weighted weighs each class's one-vs-rest AUC by its support; for two classes it
		// is the positive class's, the one curve Diagnose keeps.
		var auc, support float64
		for i, roc := range d.ROC {
			c := i
			if classes == 2 {
				c = 1
			}
			n := 0
			for _, v := range d.Confusion[c] {
				n += v
			}
			w := float64(n)
			if classes == 2 {
				w = 1
			}
			auc += w * roc.Area
			support += w
		}
		auc /= support
		if want := res.Metrics["AUC_weighted"]; math.Abs(auc-want) > 1e-9 {
			t.Errorf("%d classes: the charts' AUC %.6f, the model's out-of-fold AUC_weighted %.6f", classes, auc, want)
		}
	}
}
