#!/usr/bin/env python3
"""Trains the PyTorch module grcc emits for fashion.grc on Fashion-MNIST.

    train.py MODULE.py --out WEIGHTS.safetensors [--data DIR] [--epochs E] [--steps N]
    torchrun --standalone --nproc_per_node 2 --redirects 1 --tee 1 train.py MODULE.py --out W.safetensors

(Debian's torchrun on Python 3.11 needs --redirects 1 --tee 1: it fails to
parse its own default, 0.)

The recipe is the reference GRCNN CIFAR one, scaled to 28x28 gray images: SGD
with momentum 0.9 and weight decay 5e-4, a cosine learning-rate schedule from
0.1 (global batch 128), random crops (padding 2) and horizontal flips. DIR
holds the IDX files of the Debian package dataset-fashion-mnist
(train-images-idx3-ubyte.gz and friends, compressed or not; by default
/usr/share/datasets/fashion-mnist). One torch thread per process: on a
shared machine more threads spin and lose time.

Started by torchrun (RANK and WORLD_SIZE set), it trains with
DistributedDataParallel: the gloo backend on CPU, nccl when CUDA is there
(--backend overrides); each process takes its share of every global batch.
--steps N stops after N optimiser steps (a smoke run). Rank 0 writes the
weights as safetensors (the state_dict, keys as grcc keys lists them) and
prints the test accuracy, measured here on the IDX test set with the same
normalisation as the spec's preprocess block.
"""

import argparse
import gzip
import importlib.util
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530  # the spec's preprocess block


def load_module(path):
    spec = importlib.util.spec_from_file_location("emitted_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, getattr(mod, mod.__all__[0])


def read_idx(data, name):
    for path in (os.path.join(data, name), os.path.join(data, name + ".gz")):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                raw = f.read()
            magic, = struct.unpack(">I", raw[:4])
            ndim = magic & 0xFF
            dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
            return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise SystemExit("train.py: no %s(.gz) in %s" % (name, data))


def dataset(data, split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(data, prefix + "-images-idx3-ubyte")
    y = read_idx(data, prefix + "-labels-idx1-ubyte")
    # As ToTensor then Normalize compute it on a PNG of the image.
    x = torch.from_numpy(x.copy()).float().div(255).unsqueeze(1)
    return (x - MEAN) / STD, torch.from_numpy(y.astype(np.int64))


def augment(x, g):
    """Random 28x28 crops of the image padded by 2 (with its normalised zero), and flips."""
    n = x.shape[0]
    pad = F.pad(x, (2, 2, 2, 2), value=(0 - MEAN) / STD)
    dy = torch.randint(0, 5, (n,), generator=g)
    dx = torch.randint(0, 5, (n,), generator=g)
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = pad[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    flip = torch.rand(n, generator=g) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def accuracy(model, x, y, batch=200):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def save_safetensors(state, path):
    header, blobs, offset = {}, [], 0
    for key, t in state.items():
        t = t.detach().cpu().contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        blob = t.numpy().tobytes()
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("module", help="the module from grcc build --target torch")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="directory of the IDX files")
    p.add_argument("--out", required=True, help="safetensors file to write")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (smoke run)")
    p.add_argument("--batch", type=int, default=128, help="global batch size")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--test-limit", type=int, default=0, help="measure the accuracy on the first N test images only")
    p.add_argument("--save-every-epoch", action="store_true", help="also write the weights after every epoch")
    p.add_argument("--backend", default="", help="DDP backend (default: nccl with CUDA, else gloo)")
    a = p.parse_args()

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if world > 1:
        dist.init_process_group(a.backend or ("nccl" if cuda else "gloo"))
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    mod, cls = load_module(a.module)
    model = cls().to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    decay = [q for n, q in model.named_parameters() if q.ndim > 1]
    no_decay = [q for n, q in model.named_parameters() if q.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    x, y = dataset(a.data, "train")
    per_rank = a.batch // world
    steps_per_epoch = len(x) // a.batch
    total = a.steps if a.steps else a.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    g = torch.Generator().manual_seed(1 + rank)  # augmentation differs per process
    start, step = time.time(), 0
    net.train()
    for epoch in range(a.epochs):
        # Every process draws the same permutation and takes its slice of each global batch.
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(100 + epoch))
        seen, loss_sum = 0, 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * a.batch + rank * per_rank: b * a.batch + (rank + 1) * per_rank]
            xb, yb = augment(x[idx], g).to(device), y[idx].to(device)
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            seen += len(idx)
            loss_sum += float(loss) * len(idx)
            if step >= total:
                break
        if rank == 0:
            print("epoch %d: loss %.4f, %d steps, %.0f s" % (epoch + 1, loss_sum / max(seen, 1), step, time.time() - start),
                  flush=True)
            if a.save_every_epoch:
                save_safetensors(model.state_dict(), a.out)
        if step >= total:
            break
    elapsed = time.time() - start
    if rank == 0:
        model.cpu()
        tx, ty = dataset(a.data, "test")
        if a.test_limit:
            tx, ty = tx[:a.test_limit], ty[:a.test_limit]
        acc = accuracy(model, tx, ty)
        print("trained %d steps in %.0f s on %d process(es); accuracy on %d test images %.2f%%"
              % (step, elapsed, world, len(tx), 100 * acc), flush=True)
        save_safetensors(model.state_dict(), a.out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
