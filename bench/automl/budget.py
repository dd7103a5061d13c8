"""The sklearn side of budget.sh: for each set of other/hgb_splits.py plus bank marketing and
each seed, writes a stratified (plain for regression) 80/20 split as CSV, then scores on the
test part sklearn's HistGradientBoosting with defaults and, for each budget, HGB with a random
search of that budget: configurations drawn from the space of docs/automl.md#successive-halving
(defaults first), each fit on 80 % of the training rows with early stopping and scored on the
other 20 % (log loss, or RMSE), until the next fit would pass the budget; the best is then fit
on all training rows. The refit counts in the budget. One JSON line per (set, seed, budget).

With OURS (the automl search's bench binary and its arguments), the automl search runs on the
same split right beside each random search, the two taking turns at going first, so both sides
meet the same load; its JSON line goes into the record under "ours".

  python3 budget.py OUTDIR SEEDS BUDGETS BANKCSV [OURS...]    BUDGETS like 5,10,30,60 (seconds)
"""
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "other"))
import hgb_splits  # noqa: E402


def sets(bank):
    """The sets to run: all of them, or those named in $SETS (comma-separated)."""
    only = [n for n in os.environ.get("SETS", "").split(",") if n]
    for name, task, df in [*hgb_splits.load(), ("bank_marketing", "binary", pd.read_csv(bank))]:
        if not only or name in only:
            yield name, task, df


def scores(task, y, model, x):
    if task == "regression":
        p = model.predict(x)
        return {"r2_score": r2_score(y, p), "root_mean_squared_error": mean_squared_error(y, p) ** 0.5}
    p = model.predict_proba(x)
    out = {"accuracy": accuracy_score(y, model.classes_[p.argmax(1)]), "log_loss": log_loss(y, p, labels=model.classes_)}
    if task == "binary":
        out["AUC_weighted"] = roc_auc_score(y, p[:, 1])
    else:
        out["AUC_weighted"] = roc_auc_score(y, p, multi_class="ovr", average="weighted", labels=model.classes_)
    return out


def make(task, mask, seed, **params):
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return cls(categorical_features=mask, random_state=seed, **params)


def sample(rng):
    """One draw of docs/automl.md's space in sklearn's names (feature fraction has none)."""
    lr = math.exp(rng.uniform(math.log(0.01), math.log(0.3)))
    return {
        "learning_rate": lr,
        "max_leaf_nodes": int(round(math.exp(rng.uniform(math.log(4), math.log(256))))),
        "min_samples_leaf": int(round(math.exp(rng.uniform(math.log(2), math.log(128))))),
        "l2_regularization": math.exp(rng.uniform(math.log(0.001), math.log(10))),
        "max_bins": int(rng.choice([63, 127, 255])),
        "max_iter": int(min(2000, max(100, 30 / lr))),
        "early_stopping": True, "n_iter_no_change": 20,
    }


def random_search(task, mask, a, y, seed, budget):
    t0 = time.perf_counter()
    strat = y if task != "regression" else None
    fa, va, fy, vy = train_test_split(a, y, test_size=0.2, random_state=seed, stratify=strat)
    rng = np.random.default_rng(seed)
    best, best_loss, fits, slowest = None, math.inf, 0, 0.0
    params = {}
    while True:
        left = budget - (time.perf_counter() - t0)
        # Leave room for this fit and the final one on all rows (1.25 times a fit's rows).
        if fits > 0 and left < 2.25 * slowest:
            break
        f0 = time.perf_counter()
        m = make(task, mask, seed, **params).fit(fa, fy)
        slowest = max(slowest, time.perf_counter() - f0)
        fits += 1
        if task == "regression":
            loss = mean_squared_error(vy, m.predict(va)) ** 0.5
        else:
            loss = log_loss(vy, m.predict_proba(va), labels=m.classes_)
        if loss < best_loss:
            best, best_loss = params, loss
        params = sample(rng)
    model = make(task, mask, seed, **best).fit(a, y)
    return model, fits, time.perf_counter() - t0


def ours(cmd, task, train, test, budget):
    """One automl search on the split, scored on its test rows by the bench binary."""
    kind = "regression" if task == "regression" else "classification"
    out = subprocess.run(cmd + ["-data", train, "-test", test, "-target", "y", "-task", kind, "-budget", f"{budget:g}s"],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return json.loads(out)


def main():
    outdir, seeds, budgets, bank = sys.argv[1], int(sys.argv[2]), [float(b) for b in sys.argv[3].split(",")], sys.argv[4]
    cmd = sys.argv[5:]
    turn = 0
    for name, task, df in sets(bank):
        for seed in range(seeds):
            tr, te, trp, tep, mask, a, b = hgb_splits.split(outdir, name, task, df, seed)
            ytr = tr["y"].to_numpy()
            t0 = time.perf_counter()
            hgb = scores(task, te["y"], make(task, mask, seed).fit(a, ytr), b)
            hgb["seconds"] = time.perf_counter() - t0
            for budget in budgets:
                rec = {"dataset": name, "task": task, "seed": seed, "rows": len(df), "budget": budget,
                       "train": trp, "test": tep, "hgb": hgb}
                # Taking turns at going first spreads a change of load over both sides.
                turn += 1
                if cmd and turn % 2 == 0:
                    rec["ours"] = ours(cmd, task, trp, tep, budget)
                model, fits, secs = random_search(task, mask, a, ytr, seed, budget)
                rs = scores(task, te["y"], model, b)
                rs["fits"], rs["seconds"] = fits, secs
                rec["rs"] = rs
                if cmd and turn % 2 == 1:
                    rec["ours"] = ours(cmd, task, trp, tep, budget)
                print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
