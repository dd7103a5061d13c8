"""The scikit-learn model both Python peers use: HistGradientBoostingClassifier with its
defaults and native categorical support, behind an OrdinalEncoder for the text columns.
This is the strongest cheap baseline on the bank data, and what a Python user would
train before reaching for AutoML.

Shared by hgb_peer.py (the AutoML peer) and make_model.py (the serving peer's model),
so the two peers are one model measured two ways.
"""
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder


def read(path, target):
    """Reads a CSV and returns (features, y): y is 1 for the largest label in sorted
    order ("yes" on the bank data), which is the positive class the Go side picks too."""
    df = pd.read_csv(path)
    if target not in df.columns:
        raise SystemExit(f"{path}: no column {target!r} (columns: {', '.join(df.columns)})")
    labels = df.pop(target)
    positive = sorted(labels.dropna().unique())[-1]
    return df, (labels == positive).astype(int).to_numpy()


def pipeline(x, seed=0):
    """An unfitted pipeline for the columns of frame x. Text columns come first because
    HGB's categorical_features mask refers to positions after the ColumnTransformer."""
    text = [c for c in x.columns if x[c].dtype == object]
    numbers = [c for c in x.columns if c not in text]
    encode = ColumnTransformer([
        # Unseen categories at predict time become missing values, which HGB handles,
        # instead of an exception that would turn a request into a 500.
        ("text", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                dtype=np.float64), text),
        ("numbers", "passthrough", numbers),
    ])
    mask = [True] * len(text) + [False] * len(numbers)
    return Pipeline([
        ("encode", encode),
        ("hgb", HistGradientBoostingClassifier(categorical_features=mask, random_state=seed)),
    ])
