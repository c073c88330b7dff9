"""The seed scenario's data (issue 13): 15 zips, each one entry of 2,000,000 x 4 float32 from
np.random.rand (32 MB, deflated by Python's zipfile at its default level to about 28.7 MB).

    python3 bench/seed_data.py DIR [--files 15] [--rows 2000000]
"""
import argparse
import os
import zipfile

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("dir")
parser.add_argument("--files", type=int, default=15)
parser.add_argument("--rows", type=int, default=2_000_000)
args = parser.parse_args()
os.makedirs(args.dir, exist_ok=True)
rng = np.random.default_rng(13)
for i in range(args.files):
    data = rng.random((args.rows, 4), dtype=np.float32)
    path = os.path.join(args.dir, f"part{i:02d}.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"part{i:02d}.f32", data.tobytes())
    print(path)
