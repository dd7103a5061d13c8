"""Trains the serving peer's model and writes what the load generator sends.

Writes OUTDIR/hgb.pkl, the hgb.py pipeline fitted on all rows of the bank training file
(pickled, as a typical Python deployment ships its model), and OUTDIR/payload.json, the
Azure-style body {"data": [row]} whose one row is the file's first row without its label:
the body every server of bench/serving/run.sh is loaded with.

  OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/make_model.py OUTDIR [FILE.csv [TARGET]]
"""
import json
import os
import pickle
import sys

import hgb

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

if not 2 <= len(sys.argv) <= 4:
    raise SystemExit("usage: make_model.py OUTDIR [FILE.csv [TARGET]]")
outdir = sys.argv[1]
path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    REPO, "examples", "bankmarketing", "data", "bankmarketing_train.csv")
target = sys.argv[3] if len(sys.argv) > 3 else "y"

x, y = hgb.read(path, target)
model = hgb.pipeline(x).fit(x, y)
os.makedirs(outdir, exist_ok=True)


def write(name, data):
    # Through a temporary name, so a reader never sees half a file.
    final = os.path.join(outdir, name)
    with open(final + ".tmp", "wb") as f:
        f.write(data)
    os.replace(final + ".tmp", final)
    return final


# to_json turns numpy scalars into plain JSON numbers, as a client would send them.
row = json.loads(x.iloc[[0]].to_json(orient="records"))[0]
print("wrote", write("hgb.pkl", pickle.dumps(model)), "and",
      write("payload.json", json.dumps({"data": [row]}).encode()))
