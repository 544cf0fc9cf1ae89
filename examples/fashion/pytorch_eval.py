#!/usr/bin/env python3
"""Evaluates a grcc-emitted module on an ImageFolder the way PyTorch users do.

    pytorch_eval.py MODULE.py WEIGHTS.safetensors DIR [--predictions FILE.csv]

torchvision's ImageFolder over DIR, each image opened with Pillow and
converted to L, then ToTensor and Normalize with the spec's mean and std; the
model in eval mode. Prints the top-1 accuracy and writes, like grcc eval,
path,label,prediction per image (path relative to DIR).
"""

import argparse
import importlib.util
import json
import os
import struct

import numpy as np
import torch
import torchvision.datasets as datasets
import torchvision.transforms as T
from PIL import Image

MEAN, STD = 0.2860, 0.3530  # fashion.grc's preprocess block


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    state = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        begin, end = info["data_offsets"]
        state[key] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"]).copy())
    return state


def main():
    p = argparse.ArgumentParser()
    p.add_argument("module")
    p.add_argument("weights")
    p.add_argument("dir")
    p.add_argument("--predictions", default="")
    p.add_argument("--batch", type=int, default=200)
    a = p.parse_args()
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("emitted_model", a.module)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = getattr(mod, mod.__all__[0])()
    model.load_state_dict(load_safetensors(a.weights), strict=True)
    model.eval()
    ds = datasets.ImageFolder(a.dir, transform=T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))]),
                              loader=lambda path: Image.open(path).convert("L"))
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=False, num_workers=0)
    preds, correct = [], 0
    with torch.inference_mode():
        for x, y in loader:
            p_ = model(x).argmax(1)
            correct += int((p_ == y).sum())
            preds += p_.tolist()
    print("pytorch: %d images, top-1 %.2f%% (%d)" % (len(ds), 100 * correct / len(ds), correct))
    if a.predictions:
        with open(a.predictions, "w") as f:
            f.write("path,label,prediction\n")
            for (path, label), pred in zip(ds.samples, preds):
                f.write("%s,%d,%d\n" % (os.path.relpath(path, a.dir).replace(os.sep, "/"), label, pred))


if __name__ == "__main__":
    main()
