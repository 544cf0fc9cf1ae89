"""Shared helpers for the torchref scripts: load a module file that grcc
emitted (grcc build --target torch), read grcc keys output, and open
checkpoints in the forms the reference implementation writes.
"""

import collections
import importlib.util
import os

import torch


def load(path):
    """Imports the emitted Python file at path; returns (module, model class)."""
    name = "grcc_emitted_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, getattr(mod, mod.__all__[0])


def read_keys(path):
    """Reads grcc keys output: [(key, dtype, shape tuple)] in order."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            key, dtype, shape = line.split("\t")
            dims = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
            rows.append((key, dtype, dims))
    return rows


def read_shared(path):
    """Reads a shared-tensor list: {key: first key holding the same tensor}."""
    shared = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            key, first = line.split("\t")
            shared[key] = first
    return shared


def sharing(state_dict):
    """{key: first key of state_dict whose tensor has the same storage}."""
    first = {}
    out = {}
    for key, t in state_dict.items():
        ptr = t.data_ptr() if t.numel() else ("empty", key)
        out[key] = first.setdefault(ptr, key)
    return out


def load_checkpoint(path):
    """Loads a checkpoint: a plain state_dict, or a training checkpoint
    {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer'} whose keys may
    carry DataParallel's 'module.' prefix. Returns the state_dict."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    out = collections.OrderedDict()
    for key, value in obj.items():
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out
