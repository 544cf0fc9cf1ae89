#!/usr/bin/env python3
"""Checks modules emitted by grcc's PyTorch target (grcc build --target torch).

For each case it imports the emitted file, constructs the model without
arguments and checks that its state_dict has exactly the expected entries
(key, dtype, shape, in order: grcc keys output) and, given a shared-tensor
list, that exactly those entries share a tensor. Optionally it loads a
checkpoint strictly and compares the eval-mode logits for a saved input with
saved logits, max|got - want| <= rtol * max|want|; runs a forward pass on a
random input; and constructs the model with another num_classes.

One case from flags, or many from a JSON manifest (a list of objects with the
flags' names as keys, module and keys required), so that PyTorch is imported
once:

    check_module.py MODULE.py --keys KEYS.tsv [--shared SHARED.tsv]
        [--checkpoint CKPT.pt --input IN.npy --output OUT.npy [--rtol 1e-5]]
        [--forward] [--num-classes N] [--fixed-classes]
    check_module.py --manifest CASES.json

The shared-tensor list has one line per entry that holds the same tensor as an
earlier one: "key<TAB>first key". A manifest case may carry "make": {"seed",
"out", and optionally "batch", "legacy", "train_checkpoint"}: make_case.py
first writes the case into out, and its checkpoint, input and output are
checked. Exit status 0 when every case passes.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

import emitted
import make_case


def check_keys(model, rows):
    sd = model.state_dict()
    got = [(k, str(v.dtype).replace("torch.", ""), tuple(v.shape)) for k, v in sd.items()]
    if got == rows:
        return sd, []
    errs = []
    want_keys = [r[0] for r in rows]
    got_keys = [g[0] for g in got]
    missing = [k for k in want_keys if k not in sd]
    extra = [k for k in got_keys if k not in set(want_keys)]
    if missing:
        errs.append("missing %d keys, first %s" % (len(missing), missing[:3]))
    if extra:
        errs.append("unexpected %d keys, first %s" % (len(extra), extra[:3]))
    for i, (g, w) in enumerate(zip(got, rows)):
        if g != w:
            errs.append("entry %d: got %s %s %s, want %s %s %s" % ((i,) + g + w))
            break
    if len(got) != len(rows):
        errs.append("got %d entries, want %d" % (len(got), len(rows)))
    return sd, errs


def check_sharing(state_dict, shared, what):
    want = {k: shared.get(k, k) for k in state_dict}
    got = emitted.sharing(state_dict)
    for k in state_dict:
        if got[k] != want[k]:
            return ["%s: %s holds the tensor of %s, want %s" % (what, k, got[k], want[k])]
    return []


def run_case(case):
    errs = []
    notes = []
    if case.get("make"):
        mk = dict(case["make"])
        peak = make_case.make(case["module"], **mk)
        notes.append("made (max|logit| %.4g)" % peak)
        for name in ("checkpoint", "input", "output"):
            case[name] = os.path.join(mk["out"], name + (".pt" if name == "checkpoint" else ".npy"))
    mod, cls = emitted.load(case["module"])
    model = cls()
    sd, e = check_keys(model, emitted.read_keys(case["keys"]))
    errs += e
    notes.append("%d entries" % len(sd))
    if case.get("shared"):
        shared = emitted.read_shared(case["shared"])
        errs += check_sharing(sd, shared, "module")
        notes.append("%d shared" % len(shared))
    if case.get("checkpoint"):
        ckpt = emitted.load_checkpoint(case["checkpoint"])
        if case.get("shared"):
            errs += check_sharing(ckpt, emitted.read_shared(case["shared"]), "checkpoint")
        model.load_state_dict(ckpt, strict=True)
        model.eval()
        x = torch.from_numpy(np.load(case["input"]))
        want = np.load(case["output"])
        with torch.no_grad():
            got = model(x).numpy()
        if got.shape != want.shape:
            errs.append("logits have shape %s, want %s" % (got.shape, want.shape))
        else:
            rtol = case.get("rtol", 1e-5)
            err = float(np.max(np.abs(got.astype(np.float64) - want)))
            scale = float(np.max(np.abs(want)))
            notes.append("max|got-want| %.3g (limit %.3g = %g x max|want| %.4g)" % (err, rtol * scale, rtol, scale))
            if not err <= rtol * scale:
                errs.append("logits differ: max|got-want| %.3g > %g x max|want| %.4g" % (err, rtol, scale))
    shape = tuple(mod.INPUT_SHAPE)
    if case.get("forward"):
        model.eval()
        with torch.no_grad():
            y = model(torch.randn((2,) + shape))
        if tuple(y.shape) != (2, mod.NUM_CLASSES) or not torch.isfinite(y).all():
            errs.append("forward gave %s, want finite 2x%d" % (tuple(y.shape), mod.NUM_CLASSES))
        notes.append("forward ok")
    if case.get("num_classes"):
        n = case["num_classes"]
        if case.get("fixed_classes"):
            try:
                cls(num_classes=n)
                errs.append("num_classes=%d: constructed, want ValueError (class count is fixed)" % n)
            except ValueError:
                notes.append("num_classes fixed")
        else:
            other = cls(num_classes=n).eval()
            with torch.no_grad():
                y = other(torch.randn((1,) + shape))
            if tuple(y.shape) != (1, n):
                errs.append("num_classes=%d: logits %s, want (1, %d)" % (n, tuple(y.shape), n))
            notes.append("num_classes=%d ok" % n)
    return errs, notes


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("module", nargs="?")
    p.add_argument("--manifest")
    p.add_argument("--keys")
    p.add_argument("--shared")
    p.add_argument("--checkpoint")
    p.add_argument("--input")
    p.add_argument("--output")
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--forward", action="store_true")
    p.add_argument("--num-classes", type=int)
    p.add_argument("--fixed-classes", action="store_true")
    a = p.parse_args()
    if a.manifest:
        with open(a.manifest) as f:
            cases = json.load(f)
    elif a.module and a.keys:
        cases = [{k: v for k, v in vars(a).items() if v not in (None, False) and k != "manifest"}]
    else:
        p.error("want MODULE --keys KEYS, or --manifest")
    torch.set_grad_enabled(False)
    failed = 0
    for case in cases:
        start = time.time()
        try:
            errs, notes = run_case(case)
        except Exception as e:  # report the case, go on with the others
            errs, notes = ["%s: %s" % (type(e).__name__, e)], []
        if errs:
            failed += 1
            print("FAIL %s: %s" % (case["module"], "; ".join(errs)))
        else:
            print("ok   %s: %s (%.1fs)" % (case["module"], ", ".join(notes), time.time() - start))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
