"""Writes stratified (classification) or plain (regression) 80/20 splits of sklearn-bundled and
synthetic tabular sets as CSV, and scores sklearn HistGradientBoosting defaults on each split.
The Go side (bench/automl/search -test) trains on the same train files and scores the same
test files, so the two columns of other.sh's table see identical rows.

  /usr/bin/python3 hgb_splits.py OUTDIR SEEDS   -> one JSON line per (dataset, seed)
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OrdinalEncoder


def frame(x, y, names=None):
    df = pd.DataFrame(x, columns=names or [f"x{i}" for i in range(x.shape[1])])
    df["y"] = y
    return df


def with_categories(df, seed):
    """Turns two numeric columns into letter categories and blanks 5 % of a third (missing)."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    for c, k in (("x0", 6), ("x1", 12)):
        q = pd.qcut(out[c], k, labels=False, duplicates="drop")
        letters = np.array([chr(ord("a") + i) for i in range(k)])
        # shuffle the letter order so the codes carry no order a numeric split could use
        out[c] = letters[rng.permutation(k)][q.to_numpy()]
    miss = rng.random(len(out)) < 0.05
    out.loc[miss, "x2"] = np.nan
    return out


def load():
    bc = datasets.load_breast_cancer()
    yield "breast_cancer", "binary", frame(bc.data, np.where(bc.target == 1, "benign", "malignant"))
    x, y = datasets.make_classification(n_samples=8000, n_features=12, n_informative=6, n_redundant=2,
                                        flip_y=0.05, class_sep=0.8, random_state=1)
    yield "synth_binary_cat", "binary", with_categories(frame(x, np.where(y == 1, "yes", "no")), 1)
    w = datasets.load_wine()
    yield "wine", "multiclass", frame(w.data, w.target.astype(str))
    d = datasets.load_digits()
    yield "digits", "multiclass", frame(d.data, d.target.astype(str))
    x, y = datasets.make_classification(n_samples=6000, n_features=15, n_informative=8, n_classes=5,
                                        n_clusters_per_class=2, flip_y=0.03, random_state=2)
    yield "synth_5class_cat", "multiclass", with_categories(frame(x, np.array(list("ABCDE"))[y]), 2)
    dia = datasets.load_diabetes()
    yield "diabetes", "regression", frame(dia.data, dia.target)
    x, y = datasets.make_friedman1(n_samples=5000, n_features=10, noise=1.0, random_state=3)
    yield "friedman1", "regression", frame(x, y)


def split(outdir, name, task, df, seed):
    """One seed's 80/20 split (stratified for classes), written as the CSVs mlflow trains and
    scores on, and the matrices sklearn fits: categories ordinal-encoded, first, with their mask."""
    strat = df["y"] if task != "regression" else None
    tr, te = train_test_split(df, test_size=0.2, random_state=seed, stratify=strat)
    trp, tep = f"{outdir}/{name}_s{seed}_train.csv", f"{outdir}/{name}_s{seed}_test.csv"
    tr.to_csv(trp, index=False)
    te.to_csv(tep, index=False)
    xtr, xte = tr.drop(columns="y"), te.drop(columns="y")
    cat = [c for c in xtr.columns if xtr[c].dtype == object]
    num = [c for c in xtr.columns if c not in cat]
    pre = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, dtype=np.float64), cat),
        ("num", "passthrough", num)])
    mask = [True] * len(cat) + [False] * len(num)
    return tr, te, trp, tep, mask, pre.fit_transform(xtr), pre.transform(xte)


def main():
    outdir, seeds = sys.argv[1], int(sys.argv[2])
    for name, task, df in load():
        for seed in range(seeds):
            tr, te, trp, tep, mask, a, b = split(outdir, name, task, df, seed)
            row = {"dataset": name, "task": task, "seed": seed, "rows": len(df), "train": trp, "test": tep}
            if task == "regression":
                m = HistGradientBoostingRegressor(categorical_features=mask, random_state=seed).fit(a, tr["y"])
                p = m.predict(b)
                row["r2_score"] = r2_score(te["y"], p)
                row["root_mean_squared_error"] = mean_squared_error(te["y"], p) ** 0.5
            else:
                m = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed).fit(a, tr["y"])
                p = m.predict_proba(b)
                row["accuracy"] = accuracy_score(te["y"], m.classes_[p.argmax(1)])
                row["log_loss"] = log_loss(te["y"], p, labels=m.classes_)
                if task == "binary":
                    row["AUC_weighted"] = roc_auc_score(te["y"], p[:, 1])
                else:
                    row["AUC_weighted"] = roc_auc_score(te["y"], p, multi_class="ovr", average="weighted", labels=m.classes_)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
