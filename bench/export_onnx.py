#!/usr/bin/env python3
"""Exports a grcc-emitted PyTorch module to ONNX for bench/compare.

    export_onnx.py MODULE.py OUT.onnx

Random weights (as torch_bench.py and scripts/torchref/make_case.py make
them), eval mode, opset 13, a dynamic batch axis and constant folding, so
that ONNX Runtime sees the graph a user exporting the reference model gets.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "torchref"))
import emitted  # noqa: E402
import make_case  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: export_onnx.py MODULE.py OUT.onnx")
    mod, cls = emitted.load(sys.argv[1])
    model = cls()
    make_case.randomise(model, torch.Generator().manual_seed(1))
    model.eval()
    x = torch.randn((1,) + tuple(mod.INPUT_SHAPE))
    with torch.no_grad():
        torch.onnx.export(
            model, x, sys.argv[2],
            opset_version=13,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
        )


if __name__ == "__main__":
    main()
