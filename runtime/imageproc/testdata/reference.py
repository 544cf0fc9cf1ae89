#!/usr/bin/env python3
"""Preprocesses images as the reference PyTorch evaluation does, for the tests.

    reference.py CASES.json

CASES.json is a list of {"file", "out", "channels", "resize", "crop",
"mean", "std"}; for each case the image is opened with Pillow, converted to
RGB or L, and run through torchvision's Resize (bilinear, when resize > 0),
CenterCrop (when crop is [h, w]), ToTensor and Normalize; the CHW float32
tensor is saved to out (.npy). A case with "decoded" also saves Pillow's
decoded, converted pixels as a PNG there (to tell decoder differences from
preprocessing ones).
"""

import json
import sys

import numpy as np
import torchvision.transforms as T
from PIL import Image


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for c in cases:
        img = Image.open(c["file"])
        img = img.convert("RGB" if c["channels"] == 3 else "L")
        if c.get("decoded"):
            img.save(c["decoded"])
        steps = []
        if c["resize"]:
            steps.append(T.Resize(c["resize"]))
        if c["crop"]:
            steps.append(T.CenterCrop(c["crop"]))
        steps += [T.ToTensor(), T.Normalize(c["mean"], c["std"])]
        x = T.Compose(steps)(img)
        np.save(c["out"], x.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
