#!/usr/bin/env python3
"""ort_nodes.py prints where ONNX Runtime's time goes, from the per-node
profile bench/ort writes with -profile: the mean time a run of each node
(the nodes whose name matches PATTERN, all by default, slowest first) and
the time a run of each kind of operator, so that a layer of grcc's
(grcc bench --layers) can be set beside ONNX Runtime's own.

    bench/out/ort -lib LIB -model bench/out/grcnn109.onnx -threads 2 -profile /tmp/ort
    bench/ort_nodes.py /tmp/ort_<date>.json [PATTERN] [-n TOP]

Node names are those of the exported module (layer3/iter_10/iter_10.4/...),
with the suffixes ONNX Runtime adds when it fuses or relayouts a node.
"""
import argparse
import collections
import json
import re
import sys


def summary(events, pattern, top):
    nodes = [e for e in events if isinstance(e, dict) and e.get("cat") == "Node"
             and str(e.get("name", "")).endswith("_kernel_time") and "dur" in e]
    if not nodes:
        sys.exit("ort_nodes: no node events in the profile")
    runs = max(collections.Counter(e["name"] for e in nodes).values())
    per_node = collections.defaultdict(float)
    op_of, shape_of = {}, {}
    per_op = collections.defaultdict(float)
    for e in nodes:
        name = e["name"][: -len("_kernel_time")]
        per_node[name] += e["dur"]
        args = e.get("args") or {}
        op_of[name] = args.get("op_name", "?")
        shape_of[name] = args.get("output_type_shape") or []
        per_op[op_of[name]] += e["dur"]
    lines = ["%d runs; %.2f ms a run in nodes" % (runs, sum(per_op.values()) / runs / 1000), ""]
    lines.append("%10s  %-22s %-28s %s" % ("µs a run", "operator", "output", "node"))
    rx = re.compile(pattern)
    chosen = sorted((n for n in per_node if rx.search(n)), key=lambda n: -per_node[n])
    for n in chosen[:top]:
        shape = "x".join(str(d) for d in shape_of[n][0].get("float", [])) if shape_of[n] else ""
        lines.append("%10.1f  %-22s %-28s %s" % (per_node[n] / runs, op_of[n], shape, n))
    if chosen:
        lines.append("%10.1f  in all %d nodes matching %r" % (sum(per_node[n] for n in chosen) / runs, len(chosen), pattern))
    lines += ["", "%10s  %s" % ("ms a run", "operator")]
    for op, t in sorted(per_op.items(), key=lambda x: -x[1]):
        lines.append("%10.2f  %s" % (t / runs / 1000, op))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="Summarise ONNX Runtime's per-node profile.")
    ap.add_argument("profile")
    ap.add_argument("pattern", nargs="?", default="")
    ap.add_argument("-n", type=int, default=30, help="nodes to list")
    args = ap.parse_args()
    try:
        with open(args.profile) as f:
            events = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("ort_nodes: %s: %s" % (args.profile, e))
    try:
        re.compile(args.pattern)
    except re.error as e:
        sys.exit("ort_nodes: pattern %r: %s" % (args.pattern, e))
    if not isinstance(events, list):
        sys.exit("ort_nodes: %s: not a profile (a JSON list of trace events)" % args.profile)
    sys.stdout.write(summary(events, args.pattern, args.n))


if __name__ == "__main__":
    main()
