#!/usr/bin/env python3
"""Makes a test case from a module emitted by grcc's PyTorch target, the way
the reference cases were made (see the reference's CASES.md).

It builds the model, randomises its weights and BatchNorm statistics (BN
weight and running_var uniform in [0.5, 1.5), BN bias and running_mean and
every conv or linear bias ~ N(0, 0.1^2), conv weights ~ N(0, 1/fan_in) (see randomise),
linear weights ~ N(0, 1/in)), sets eval mode, and writes into OUT:

    checkpoint.pt   torch.save(state_dict), or a training checkpoint
    input.npy       float32 NCHW, ~ N(0, 1)
    output.npy      float32 logits of input.npy
    output64.npy    the same logits computed in float64

Weight-shared modules are randomised in place, once, so shared entries stay
one tensor (and the checkpoint stores it once). It prints max|logit|.

    make_case.py MODULE.py --seed 1 --batch 2 --out DIR [--legacy] [--train-checkpoint]
    make_case.py --jobs jobs.json

The last layer is rescaled so that max|logit| lies in [1, 100] (about 30).

make() does the same from Python (check_module.py's manifest uses it).
"""

import argparse
import collections
import copy
import json
import math
import os

import numpy as np
import torch
from torch import nn

import emitted


def randomise(model, g, conv_gain=1.0):
    """Randomises weights and BatchNorm statistics in place.

    Convolutions get N(0, conv_gain/fan_in). The reference cases used gain 2
    (He initialisation), but deep random GRCNNs are then chaotic: PyTorch's
    own float32 logits of GRCNN-110 differ from float64 by 30%. With gain 1
    every shipped spec stays below 1e-6 relative, far below the 1e-4
    tolerance of the comparisons; make() writes the float64 logits too so
    that tests can check this for every case.
    """
    with torch.no_grad():
        for m in model.modules():  # each shared module once
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, math.sqrt(conv_gain / fan_in), generator=g)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1, generator=g)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, math.sqrt(1.0 / m.in_features), generator=g)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)


def rescale_logits(model, x, target):
    """Scales the last linear layer so that max|logit| is about target.

    Deep random GRCNNs reach logits in the thousands; a well-scaled case
    (logits of order 1-100) keeps the comparison's relative tolerance
    meaningful. Scaling the last layer changes no other activation.
    """
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        return
    with torch.no_grad():
        peak = float(model(x).abs().max())
        if peak > 0 and not (1.0 <= peak <= 100.0):
            last.weight.mul_(target / peak)
            if last.bias is not None:
                last.bias.mul_(target / peak)


def make(module, seed, out, batch=2, legacy=False, train_checkpoint=False, target_logit=30.0):
    """Writes a case for the emitted module file into out; returns max|logit|."""
    mod, cls = emitted.load(module)
    g = torch.Generator().manual_seed(seed)
    model = cls()
    randomise(model, g)
    model.eval()
    x = torch.randn((batch,) + tuple(mod.INPUT_SHAPE), generator=g)
    if target_logit:
        rescale_logits(model, x, target_logit)
    with torch.no_grad():
        y = model(x)
        y64 = copy.deepcopy(model).double()(x.double())

    os.makedirs(out, exist_ok=True)
    obj = model.state_dict()
    if train_checkpoint:
        obj = {
            "epoch": 1,
            "arch": mod.MODEL_NAME,
            "state_dict": collections.OrderedDict(("module." + k, v) for k, v in obj.items()),
            "best_acc1": torch.tensor(0.0),
            "optimizer": {},
        }
    kwargs = {"_use_new_zipfile_serialization": False} if legacy else {}
    torch.save(obj, os.path.join(out, "checkpoint.pt"), **kwargs)
    np.save(os.path.join(out, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, "output.npy"), y.numpy().astype(np.float32))
    np.save(os.path.join(out, "output64.npy"), y64.numpy().astype(np.float64))
    return float(y.abs().max())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", help="a JSON list of cases {module, seed, out, batch, legacy, "
                   "train_checkpoint} to make in one process; prints one line per case")
    p.add_argument("module", nargs="?", help="the emitted Python file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--out", help="the output directory")
    p.add_argument("--legacy", action="store_true",
                   help="write the legacy (pre-1.6) pickle format, not a zip archive")
    p.add_argument("--train-checkpoint", action="store_true",
                   help="wrap as {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer'} "
                        "with DataParallel's 'module.' key prefix")
    a = p.parse_args()
    if a.jobs:
        with open(a.jobs) as f:
            jobs = json.load(f)
        for job in jobs:
            peak = make(job["module"], job["seed"], job["out"], job.get("batch", 2),
                        job.get("legacy", False), job.get("train_checkpoint", False))
            print("%s max|logit| %.6g" % (job["out"], peak), flush=True)
        return
    if not a.module or not a.out:
        p.error("MODULE and --out are required without --jobs")
    peak = make(a.module, a.seed, a.out, a.batch, a.legacy, a.train_checkpoint)
    print("max|logit| %.6g" % peak)


if __name__ == "__main__":
    main()
