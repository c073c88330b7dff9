"""Python's fix for the same job, the anchor of issue 13: 2 worker processes extract the zips to
temporary files on /dev/shm and return their paths; the parent maps each with numpy.memmap and
sums its columns. (Column sums only: less work than the mean, std, min and max shmarray stats
computes, so the ratio is on Python's side.)

    python3 bench/python_fix.py DATA/*.zip [--columns 4] [--workers 2]
"""
import argparse
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def extract(job):
    zip_path, out_dir = job
    paths = []
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            out = os.path.join(out_dir, f"{os.path.basename(zip_path)}-{len(paths)}.f32")
            with z.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 4 << 20)
            paths.append(out)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zips", nargs="+")
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out_dir = tempfile.mkdtemp(prefix="python-fix-", dir="/dev/shm")
    try:
        with ProcessPoolExecutor(args.workers) as pool:
            paths = [p for ps in pool.map(extract, [(z, out_dir) for z in args.zips]) for p in ps]
        total = np.zeros(args.columns, dtype=np.float64)
        rows = 0
        for p in paths:
            a = np.memmap(p, dtype="<f4", mode="r").reshape(-1, args.columns)
            total += a.sum(axis=0, dtype=np.float64)
            rows += a.shape[0]
            del a
        print(f"{rows} rows; column sums {total.tolist()}")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
