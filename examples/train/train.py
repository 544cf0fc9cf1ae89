#!/usr/bin/env python3
"""Trains a grcc-emitted PyTorch module for a few steps on synthetic data.

    train.py MODULE.py --out DIR [--steps N]

The data: 32x32 RGB images whose class is the quadrant and colour channel of
a bright square, so a few steps already move the loss. After training it
writes, in eval mode, DIR/model.pth (the state_dict, as users save it),
DIR/input.npy (a batch of 8 images) and DIR/logits.npy (the model's logits),
and prints the loss before and after.
"""

import argparse
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    spec = importlib.util.spec_from_file_location("emitted_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, getattr(mod, mod.__all__[0])


def batch(g, n, classes):
    x = torch.randn(n, 3, 32, 32, generator=g) * 0.1
    y = torch.randint(0, classes, (n,), generator=g)
    for i in range(n):
        c = int(y[i])
        ch, q = c % 3, c % 4
        r0, c0 = (q // 2) * 16, (q % 2) * 16
        x[i, ch, r0 + 4:r0 + 12, c0 + 4:c0 + 12] += 2.0
    return x, y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("module")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    torch.manual_seed(0)
    mod, cls = load(a.module)
    model = cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    model.train()
    first = None
    for step in range(a.steps):
        x, y = batch(g, 32, mod.NUM_CLASSES)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    print("loss %.3f -> %.3f after %d steps" % (first, float(loss), a.steps))
    model.eval()
    x, _ = batch(g, 8, mod.NUM_CLASSES)
    with torch.no_grad():
        logits = model(x)
    os.makedirs(a.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(a.out, "model.pth"))
    np.save(os.path.join(a.out, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "logits.npy"), logits.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
