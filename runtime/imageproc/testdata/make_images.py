#!/usr/bin/env python3
"""Writes, with Pillow, PNG files in modes Go's encoders cannot write, for the tests.

    make_images.py DIR

DIR/la.png (gray with alpha), DIR/bilevel.png (mode 1), DIR/i16.png (16-bit
gray, mode I;16) and DIR/p_rgba.png (a palette with alpha values, mode P).
"""

import os
import sys

import numpy as np
from PIL import Image


def main():
    out = sys.argv[1]
    r = np.random.default_rng(5)
    h, w = 43, 37
    grad = (np.add.outer(np.arange(h) * 5, np.arange(w) * 3) % 256).astype(np.uint8)
    noise = r.integers(0, 60, (h, w), dtype=np.uint8)
    gray = grad // 2 + noise
    alpha = r.integers(0, 256, (h, w), dtype=np.uint8)
    alpha[::5, ::3] = 0
    Image.fromarray(np.stack([gray, alpha], axis=2), mode="LA").save(os.path.join(out, "la.png"))
    Image.fromarray(gray > 100).convert("1").save(os.path.join(out, "bilevel.png"))
    Image.fromarray((gray.astype(np.uint16) * 3 + noise.astype(np.uint16) * 700).astype(np.uint16)).save(
        os.path.join(out, "i16.png"))
    rgba = np.stack([gray, 255 - gray, noise * 4, alpha], axis=2)
    Image.fromarray(rgba, mode="RGBA").quantize(100).save(os.path.join(out, "p_rgba.png"))


if __name__ == "__main__":
    main()
