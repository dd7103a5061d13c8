"""The AutoML peer of bench/automl/run.sh: sklearn's HistGradientBoostingClassifier with
defaults (hgb.py) on a CSV. One fit on all rows, timed (wall and CPU seconds; CSV parsing
is outside the timing, binning is inside it, as on the Go side), then stratified 5-fold CV
accuracy and AUC. Prints one JSON line in the shape bench/automl/main.go prints. With FITS,
the fit is timed that many times and the medians are printed: under load, OpenMP threads
waiting for each other can make one fit several times slower than the next.

  OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/hgb_peer.py \
      examples/bankmarketing/data/bankmarketing_train.csv y [FITS]
"""
import json
import sys
import time

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

import hgb

if len(sys.argv) not in (3, 4):
    raise SystemExit("usage: hgb_peer.py FILE.csv TARGET [FITS]")
path, target = sys.argv[1], sys.argv[2]
fits = sys.argv[3] if len(sys.argv) == 4 else "1"
if not fits.isdigit() or int(fits) < 1:
    raise SystemExit(f"hgb_peer.py: FITS {fits!r}: want a whole number of at least 1")
x, y = hgb.read(path, target)

walls, cpus = [], []
for _ in range(int(fits)):
    wall0, cpu0 = time.perf_counter(), time.process_time()
    hgb.pipeline(x).fit(x, y)
    walls.append(time.perf_counter() - wall0)
    cpus.append(time.process_time() - cpu0)
wall, cpu = float(np.median(walls)), float(np.median(cpus))

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
