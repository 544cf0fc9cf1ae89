#!/usr/bin/python3
"""Regenerates the checkpoint test fixtures.

Run from this directory with a Python that has PyTorch (Debian's 1.13 works):

    /usr/bin/python3 make_fixtures.py [path/to/tiny_cifar.pt]

tiny_cifar.pt is copied from /work/shared/grcnn/reference (a GRCNN reference
case); everything else is generated here. The .json files hold the values the
Go tests compare against.
"""

import argparse
import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy
import torch

torch.manual_seed(0)


def save(obj, name, legacy=False):
    torch.save(obj, name, _use_new_zipfile_serialization=not legacy)


def describe(sd):
    """Key order, dtype, shape and all values (as float32/int64) of a state_dict."""
    out = []
    for k, v in sd.items():
        dtype = str(v.dtype).replace("torch.", "")
        flat = v.contiguous().reshape(-1)
        if v.dtype.is_floating_point:
            vals = flat.float().tolist()
        else:
            vals = flat.long().tolist()
        out.append({"key": k, "dtype": dtype, "shape": list(v.shape), "values": vals})
    return out


def dump(obj, name):
    with open(name, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def reference(src):
    shutil.copyfile(src, "tiny_cifar.pt")
    sd = torch.load("tiny_cifar.pt")
    out = []
    for k, v in sd.items():
        flat = v.reshape(-1)
        out.append({
            "key": k,
            "dtype": str(v.dtype).replace("torch.", ""),
            "shape": list(v.shape),
            "head": flat[:4].tolist(),
            "sum": flat.double().sum().item(),
        })
    dump(out, "tiny_cifar.json")


def dtypes():
    sd = collections.OrderedDict()
    sd["f32"] = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
    sd["i64"] = torch.tensor(7, dtype=torch.int64)
    sd["f64"] = torch.tensor([0.1, -1.25, 3e-3], dtype=torch.float64)
    sd["f16"] = torch.tensor([0.5, -2.0, 1024.0, 0.099975586], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.5, -0.0078125], dtype=torch.bfloat16)
    sd["i32"] = torch.tensor([-3, 0, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    save(sd, "dtypes.pt")
    save(sd, "dtypes_legacy.pt", legacy=True)
    torch.save(sd, "dtypes_proto4.pt", pickle_protocol=4)
    torch.save(sd, "dtypes_legacy_proto4.pt", pickle_protocol=4, _use_new_zipfile_serialization=False)
    dump(describe(sd), "dtypes.json")


def small_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3),
        torch.nn.BatchNorm2d(2),
        torch.nn.Linear(4, 3),
    )


def training():
    model = torch.nn.DataParallel(small_model())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(2, 1, 6, 6)
    model(x).sum().backward()
    opt.step()
    ckpt = {
        "epoch": 3,
        "arch": "tiny",
        "state_dict": model.state_dict(),
        "best_acc1": torch.tensor(42.5),
        "optimizer": opt.state_dict(),
    }
    save(ckpt, "train.pt")
    save(ckpt, "train_legacy.pt", legacy=True)
    sd = collections.OrderedDict((k[len("module."):], v) for k, v in model.state_dict().items())
    dump(describe(sd), "train.json")
    # A training checkpoint of another script that also keeps its arguments.
    ckpt = {
        "args": argparse.Namespace(lr=0.1, arch="tiny"),
        "best_prec1": numpy.float64(42.5),
        "model": model.module.state_dict(),
    }
    save(ckpt, "namespace.pt")


def shared():
    w = torch.randn(2, 3)
    v = torch.randn(2, 3)
    sd = collections.OrderedDict()
    sd["a.weight"] = w
    sd["b.weight"] = w  # the same tensor under two keys
    sd["v"] = v
    sd["v_row1"] = v[1]  # a view at element offset 3 of v's storage
    save(sd, "shared.pt")
    dump(describe(sd), "shared.json")


def views():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = collections.OrderedDict()
    sd["x"] = x
    sd["t"] = x.t()  # strides (1, 4)
    sd["s"] = x[:, 1:3]  # offset 1, strides (4, 1)
    sd["e"] = torch.arange(3, dtype=torch.float32).expand(2, 3)  # strides (0, 1)
    sd["p"] = x.permute(1, 0)[::2]  # strides (2, 4)
    for k, v in sd.items():
        print("views", k, tuple(v.shape), v.stride(), v.storage_offset(), file=sys.stderr)
    save(sd, "views.pt")
    dump(describe(sd), "views.json")


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def evil():
    save({"w": torch.zeros(2), "x": Evil(os.system, "echo pwned")}, "evil.pt")
    save({"w": torch.zeros(2), "x": Evil(os.system, "echo pwned")}, "evil_legacy.pt", legacy=True)
    save({"x": Evil(eval, "1+1")}, "evil_eval.pt")


# Hand-made checkpoints with inconsistent metadata, written the way torch.save
# writes them but with the pickle built by hand.

class Storage:
    def __init__(self, key, numel, stype=torch.FloatStorage):
        self.key, self.numel, self.stype = key, numel, stype


class Rebuild:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel)
        return None


class LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel, None)
        return None


def crafted_zip(name, entries, records):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(collections.OrderedDict(entries))
    with zipfile.ZipFile(name, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, data in records.items():
            z.writestr("archive/data/" + key, data)
        z.writestr("archive/version", "3\n")


def crafted():
    four = struct.pack("<4f", 1, 2, 3, 4)
    s = Storage("0", 4)
    crafted_zip("bigshape.pt", [("w", Rebuild(s, 0, (10**12,), (1,)))], {"0": four})
    crafted_zip("hugeshape.pt", [("w", Rebuild(s, 0, (10**6, 10**6, 10**6, 10**6), (0, 0, 0, 0)))], {"0": four})
    crafted_zip("negshape.pt", [("w", Rebuild(s, 0, (-1, 4), (4, 1)))], {"0": four})
    crafted_zip("offset.pt", [("w", Rebuild(s, 3, (2,), (1,)))], {"0": four})
    crafted_zip("stride.pt", [("w", Rebuild(s, 0, (2, 2), (3, 1)))], {"0": four})
    crafted_zip("bignumel.pt", [("w", Rebuild(Storage("0", 10**12), 0, (4,), (1,)))], {"0": four})
    crafted_zip("shortrecord.pt", [("w", Rebuild(Storage("0", 8), 0, (8,), (1,)))], {"0": four})
    crafted_zip("missingrecord.pt", [("w", Rebuild(Storage("1", 4), 0, (4,), (1,)))], {"0": four})
    # Legacy format whose storage claims 10**12 elements but holds 4.
    buf = io.BytesIO()
    for obj in (0x1950a86a20f9469cfc6c, 1001,
                dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))):
        pickle.dump(obj, buf, protocol=2)
    LegacyPickler(buf, protocol=2).dump(collections.OrderedDict(w=Rebuild(Storage("9", 10**12), 0, (4,), (1,))))
    pickle.dump(["9"], buf, protocol=2)
    buf.write(struct.pack("<q", 10**12) + four)
    with open("legacy_bigcount.pt", "wb") as f:
        f.write(buf.getvalue())


def safetensors():
    """A safetensors file laid out as the Rust library does (data sorted by
    dtype alignment, then name), written by hand from the format description."""
    sd = collections.OrderedDict()
    sd["b"] = torch.arange(6, dtype=torch.int64).reshape(3, 2) - 2
    sd["a"] = torch.randn(2, 2)
    sd["c"] = torch.tensor([0.5, -3.0], dtype=torch.float16)
    names = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}
    order = sorted(sd, key=lambda k: (-sd[k].element_size(), k))
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for k in order:
        raw = sd[k].contiguous().numpy().tobytes()
        header[k] = {"dtype": names[sd[k].dtype], "shape": list(sd[k].shape),
                     "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open("small.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    dump(describe(collections.OrderedDict((k, sd[k]) for k in order)), "small_safetensors.json")


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/grcnn/reference/tiny_cifar.pt"
    reference(src)
    dtypes()
    training()
    shared()
    views()
    evil()
    crafted()
    safetensors()
