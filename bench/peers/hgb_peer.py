"""The AutoML peer of bench/automl/run.sh: sklearn's HistGradientBoostingClassifier with
defaults (hgb.py) on a CSV. One fit on all rows, timed (wall and CPU seconds; CSV parsing
is outside the timing, binning is inside it, as on the Go side), then stratified 5-fold CV
accuracy and AUC. Prints one JSON line in the shape bench/automl/main.go prints.

  OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/hgb_peer.py \
      examples/bankmarketing/data/bankmarketing_train.csv y
"""
import json
import sys
import time

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

import hgb

if len(sys.argv) != 3:
    raise SystemExit("usage: hgb_peer.py FILE.csv TARGET")
path, target = sys.argv[1], sys.argv[2]
x, y = hgb.read(path, target)

wall0, cpu0 = time.perf_counter(), time.process_time()
hgb.pipeline(x).fit(x, y)
wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

accuracy, auc = [], []
for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(x, y):
    p = hgb.pipeline(x).fit(x.iloc[train], y[train]).predict_proba(x.iloc[test])[:, 1]
    accuracy.append(accuracy_score(y[test], p >= 0.5))
    auc.append(roc_auc_score(y[test], p))

print(json.dumps({
    "model": "sklearn HistGradientBoostingClassifier defaults",
    "rows": len(x),
    "fit_s_wall": round(wall, 3),
    "fit_s_cpu": round(cpu, 3),
    "cv5_accuracy": round(float(np.mean(accuracy)), 4),
    "cv5_auc": round(float(np.mean(auc)), 4),
}))
