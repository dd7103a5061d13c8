"""Times pandas.read_csv, and read_csv + describe, on a file.

Prints one "read MS read+profile MS" line per run after a warm-up run, the
same shape as the Go side (bench.sh interleaves the two and takes medians).
"""
import sys
import time

import pandas as pd

path, n = sys.argv[1], int(sys.argv[2])
for i in range(n + 1):
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    t1 = time.perf_counter()
    df.describe(include="all")
    df["y"].value_counts()
    t2 = time.perf_counter()
    if i > 0:
        print("read %.1f read+profile %.1f" % ((t1 - t0) * 1e3, (t2 - t0) * 1e3))
