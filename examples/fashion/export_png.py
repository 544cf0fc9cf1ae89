#!/usr/bin/env python3
"""Writes the Fashion-MNIST test set as PNG files in torchvision's ImageFolder layout.

    export_png.py --data DIR --out OUT [--split test|train] [--limit N]

OUT/<k>_<name>/<index>.png, one 28x28 gray PNG per image, index the image's
position in the IDX file (five digits). The folder names start with the class
index, so their sorted order is the class order that ImageFolder and
grcc eval assign.
"""

import argparse
import gzip
import os
import struct

import numpy as np
from PIL import Image

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(data, name):
    for path in (os.path.join(data, name), os.path.join(data, name + ".gz")):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                raw = f.read()
            ndim = struct.unpack(">I", raw[:4])[0] & 0xFF
            dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
            return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise SystemExit("export_png.py: no %s(.gz) in %s" % (name, data))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="test", choices=["test", "train"])
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    prefix = "t10k" if a.split == "test" else "train"
    x = read_idx(a.data, prefix + "-images-idx3-ubyte")
    y = read_idx(a.data, prefix + "-labels-idx1-ubyte")
    n = a.limit or len(x)
    folders = ["%d_%s" % (k, name.replace("/", "_").replace(" ", "_")) for k, name in enumerate(NAMES)]
    for f in folders:
        os.makedirs(os.path.join(a.out, f), exist_ok=True)
    for i in range(n):
        Image.fromarray(x[i], mode="L").save(os.path.join(a.out, folders[y[i]], "%05d.png" % i))
    print("wrote %d images to %s" % (n, a.out))


if __name__ == "__main__":
    main()
