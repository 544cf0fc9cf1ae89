#!/usr/bin/python3
"""Regenerates the .npy test fixtures: /usr/bin/python3 make_fixtures.py

Each fixture's values are simple functions of the element index, so the Go
tests can recompute them: arange(n) reshaped, scaled as noted.
"""

import os
import shutil

import numpy as np

os.chdir(os.path.dirname(os.path.abspath(__file__)))

a = (np.arange(24, dtype=np.float32) / 4).reshape(2, 3, 4)
np.save("f32.npy", a)
np.save("f64.npy", np.arange(5, dtype=np.float64) / 10)  # 0, 0.1, ... 0.4
np.save("scalar.npy", np.float32(2.5))
np.save("empty.npy", np.zeros((0, 3), dtype=np.float32))
np.save("big_endian.npy", (np.arange(6, dtype=np.float32) / 4).astype(">f4").reshape(2, 3))
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save("int64.npy", np.arange(3, dtype=np.int64))
with open("v2.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(2, 0))
shutil.copyfile("/work/shared/grcnn/reference/tiny_cifar.input.npy", "tiny_cifar.input.npy")
x = np.load("tiny_cifar.input.npy")
print("tiny_cifar.input.npy", x.shape, x.dtype, x.reshape(-1)[:3].tolist(), float(x.astype(np.float64).sum()))
