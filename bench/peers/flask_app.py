"""The Python serving peer of bench/serving/run.sh: a Flask app under gunicorn (sync
workers) that scores the Azure-style body {"data": [{...}, ...]} with the pickled
pipeline of make_model.py, the way a typical Python deployment does it: JSON, then a
pandas DataFrame, then predict_proba. Answers {"result": ["yes"|"no", ...]}.

  PEERS_MODEL=/tmp/x/hgb.pkl OMP_NUM_THREADS=1 gunicorn -w 2 -k sync \
      -b 127.0.0.1:18093 --chdir bench/peers flask_app:app
"""
import os
import pickle

import pandas as pd
from flask import Flask, jsonify, request

with open(os.environ["PEERS_MODEL"], "rb") as f:
    MODEL = pickle.load(f)
# The columns the pipeline was fitted on, in order; a record without one of them gets NaN,
# which HGB takes as a missing value rather than an error.
COLUMNS = list(MODEL.feature_names_in_)

app = Flask(__name__)


@app.get("/")
def up():
    return "ok\n"


@app.post("/score")
def score():
    body = request.get_json(force=True, silent=True)
    records = body.get("data") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        return jsonify({"error": 'request body: want {"data": [{...}, ...]} with at least one record'}), 400
    try:
        p = MODEL.predict_proba(pd.DataFrame.from_records(records, columns=COLUMNS))[:, 1]
    except (TypeError, ValueError) as e:
        # A mistyped field is the client's fault: answer 400 and keep the worker.
        return jsonify({"error": f"request body: {e}"}), 400
    return jsonify({"result": ["yes" if v >= 0.5 else "no" for v in p]})
