"""Writes the .npy test vectors with numpy itself, so shmarray is checked against a writer that
is not its own. Run: python3 test/vectors/make.py (numpy 2.x). The outputs are committed."""
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
for name in ["float32", "float64", "int8", "int16", "int32", "uint8", "uint16", "uint32", "int64", "uint64", "bool", "float16"]:
    a = (np.arange(24).reshape(4, 6) * 3 - 17).astype(name)
    if name.startswith("float"):
        a = a / np.array(7, dtype=name)
    np.save(os.path.join(here, f"{name}.npy"), a)
np.save(os.path.join(here, "empty.npy"), np.zeros((0, 4), dtype="float32"))
np.save(os.path.join(here, "scalar-1d.npy"), np.array([1.5], dtype="<f4"))
np.save(os.path.join(here, "bigendian.npy"), np.arange(4, dtype=">f4"))
np.save(os.path.join(here, "fortran.npy"), np.asfortranarray(np.arange(6, dtype="f4").reshape(2, 3)))
np.save(os.path.join(here, "structured.npy"), np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")]))
np.save(os.path.join(here, "object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)
with open(os.path.join(here, "v3.npy"), "wb") as f:
    np.lib.format.write_array(f, np.arange(5, dtype="<u2"), version=(3, 0))
with open(os.path.join(here, "v2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.arange(5, dtype="<i4"), version=(2, 0))
