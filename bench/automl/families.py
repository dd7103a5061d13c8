"""The other-families study of families.sh: would a model family the search lacks lift the
bank-marketing ensemble? On each seed's stratified 80/20 split (other/hgb_splits.py, as
budget.sh draws them) the automl search trains at the budget and writes its final blend's
out-of-fold predictions and its test predictions; then, one after the other (no contention),
sklearn fits on the same rows:

  hgb      HistGradientBoosting defaults (the reference of budget.sh)
  hgb_bag  the mean of 5 HGB fold models (the "cheap lever" of k-fold bagging)
  hgb_bag20  the mean of 20: four 5-fold partitions (repeated bagging, as AutoGluon's n_repeats)
  mlp      a multi-layer perceptron (128, 64) on one-hot categories and normal-quantile numerics
  gam      L2 logistic regression on one-hot categories and 32 quantile bins per numeric
           (an additive model of step functions)

mlp and gam also get 5-fold out-of-fold predictions, and each is blended with ours,
(1-w)·ours + w·family, w in 0, 0.05, …, 0.5 chosen on the out-of-fold log loss, as the
ensemble's own Caruana selection would weigh a new member. One JSON line per seed.

  python3 families.py OUTDIR SEEDS BUDGET BANKCSV SEARCH
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, QuantileTransformer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "other"))
import hgb_splits  # noqa: E402

warnings.filterwarnings("ignore")  # MLP convergence and binning notices, not results
WEIGHTS = np.arange(0, 0.501, 0.05)


def family(name, cat, num, seed):
    if name == "mlp":
        pre = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore", min_frequency=20), cat),
                                 ("n", QuantileTransformer(output_distribution="normal", n_quantiles=200), num)])
        return make_pipeline(pre, MLPClassifier((128, 64), alpha=1e-3, batch_size=256, early_stopping=True,
                                                n_iter_no_change=8, max_iter=200, random_state=seed))
    pre = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), cat),
                             ("n", KBinsDiscretizer(32, encode="onehot", strategy="quantile"), num)])
    return make_pipeline(pre, LogisticRegression(C=0.3, max_iter=2000))


def read(path, positive):
    return pd.read_csv(path).sort_values("row")[positive].to_numpy()


def score(y, p):
    return {"accuracy": float(((p >= 0.5) == y).mean()), "AUC_weighted": float(roc_auc_score(y, p))}


def main():
    out, seeds, budget, bank, search = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    df = pd.read_csv(bank)
    for seed in range(seeds):
        tr, te, trp, tep, mask, a, b = hgb_splits.split(out, "bank", "binary", df, seed)
        y, yt = (tr["y"] == "yes").to_numpy(), (te["y"] == "yes").to_numpy()
        oof, pred = f"{out}/oof.csv", f"{out}/pred.csv"
        line = subprocess.run([search, "-data", trp, "-test", tep, "-target", "y", "-budget", budget,
                               "-oof", oof, "-predictions", pred], check=True, capture_output=True, text=True).stdout
        ours_oof, ours = read(oof, "yes"), read(pred, "yes")
        if len(ours_oof) != len(y):
            sys.exit(f"seed {seed}: {len(ours_oof)} out-of-fold rows for {len(y)} training rows")
        rec = {"seed": seed, "trials": json.loads(line)["trials"], "ours": score(yt, ours)}
        hgb = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed)
        rec["hgb"] = score(yt, hgb.fit(a, y).predict_proba(b)[:, 1])
        folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(a, y))
        bags = [hgb.fit(a[i], y[i]).predict_proba(b)[:, 1] for i, _ in folds]
        rec["hgb_bag"] = score(yt, np.mean(bags, axis=0))
        for rep in range(1, 4):
            for i, _ in StratifiedKFold(5, shuffle=True, random_state=1000 * rep + seed).split(a, y):
                bags.append(hgb.fit(a[i], y[i]).predict_proba(b)[:, 1])
        rec["hgb_bag20"] = score(yt, np.mean(bags, axis=0))
        x, xt = tr.drop(columns="y"), te.drop(columns="y")
        cat = [c for c in x.columns if x[c].dtype == object]
        num = [c for c in x.columns if c not in cat]
        for name in ("mlp", "gam"):
            f_oof = np.zeros(len(y))
            for i, j in folds:
                f_oof[j] = family(name, cat, num, seed).fit(x.iloc[i], y[i]).predict_proba(x.iloc[j])[:, 1]
            f_test = family(name, cat, num, seed).fit(x, y).predict_proba(xt)[:, 1]
            w = min(WEIGHTS, key=lambda w: log_loss(y, np.clip((1 - w) * ours_oof + w * f_oof, 1e-15, 1 - 1e-15)))
            rec[name] = score(yt, f_test)
            rec["ours+" + name] = {**score(yt, (1 - w) * ours + w * f_test), "w": float(w)}
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
