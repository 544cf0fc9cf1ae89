#!/usr/bin/env python3
"""table.py prints bench/compare's results (one JSON object per line, each
an engine's run of one model in one round, tagged with "side" and "round")
as a Markdown table: per model the median over the rounds of each engine's
median latency, the ratios grcc/ORT and grcc/PyTorch (below 1: grcc is
faster), throughput, grcc's GFLOP/s (direct-convolution multiply-adds, 2
flops each) and their share of the kernel peak grcc bench measured in the
same round, peak RSS, and grcc/ORT round by round.

    bench/table.py RESULTS.jsonl
"""
import json
import statistics
import sys


def table(lines):
    rows = [json.loads(l) for l in lines if l.strip()]
    models = []
    for r in rows:
        if r["model"] not in models:
            models.append(r["model"])

    def side(m, s):
        return [r for r in rows if r["model"] == m and r["side"] == s]

    def med(rs, k):
        return statistics.median(r[k] for r in rs)

    out = [
        "| model | batch | grcc ms | ORT ms | PyTorch ms | grcc / ORT | grcc / PyTorch | grcc img/s | ORT img/s | PyTorch img/s | grcc GFLOP/s | % of peak | grcc RSS MB | ORT RSS MB | PyTorch RSS MB | grcc / ORT per round |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        g, o, t = side(m, "grcc"), side(m, "ort"), side(m, "torch")
        gm, om, tm = med(g, "median_ms"), med(o, "median_ms"), med(t, "median_ms")
        # Each round runs the engines a few seconds apart, so the spread of
        # these shows how much the host's speed moved during the run.
        rounds = " ".join("%.2f" % (a["median_ms"] / b["median_ms"]) for a, b in zip(g, o))
        out.append("| %s | %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.0f | %.0f | %.0f | %s |" % (
            m, g[0]["batch"], gm, om, tm, gm / om, gm / tm,
            med(g, "images_per_s"), med(o, "images_per_s"), med(t, "images_per_s"),
            med(g, "gflops"), med(g, "percent_of_peak"),
            max(r["peak_rss_mb"] for r in g), max(r["peak_rss_mb"] for r in o), max(r["peak_rss_mb"] for r in t), rounds))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench/table.py RESULTS.jsonl")
    with open(sys.argv[1]) as f:
        sys.stdout.write(table(f))
