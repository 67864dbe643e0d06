#!/usr/bin/env python3
"""Golden file of settling to the final state (docs/numerics.md, "Settling to the final state"),
on the trajectories of the tiny MLP, CNN and ViT optimizer goldens.

    python3 scripts/reference/make_settling_golden.py            # write settling.json
    python3 scripts/reference/make_settling_golden.py --check    # regenerate in memory, diff

For every case of mlp_optimizers.json, cnn_optimizers.json and vit_optimizers.json (the float64
reference trajectories theta_0 .. theta_T those files hold), at the snapshot iterations of a run of
T steps: the Hamming distance of the probe patterns at theta_s to those at theta_T (global and per
pattern layer, computed here with the reference forward passes), ||theta_s - theta_T|| (global and
per parameter group, in float64), and the settling times t_a(q), t_w(q) and their ratio for every q
of FRACTIONS (written to Tests/RegimeAnalysisTests/Golden/settling.json). Also the snapshot iterations of a few long runs (the schedule rule, implemented here
from the text of docs/numerics.md). Written from that text only, not from the Swift sources.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gated_golden import make_model  # noqa: E402
from make_golden import ANALYSIS_GOLDEN_DIR, GOLDEN_DIR, golden_arguments, write_or_check  # noqa: E402

FRACTIONS = [0.9, 0.7, 0.5, 0.2, 0.1, 0.05]
SCHEDULE_LENGTHS = [1, 5, 256, 257, 1000, 1500, 3000, 6000, 100000]
MINIMUM_SNAPSHOTS = 256


def snapshot_iterations(T: int) -> list[int]:
    """0..T when T <= 256; else 0 and the union of floor(T*i/n + 1/2), i = 1..n, and
    floor(T**(i/n) + 1/2), i = 0..n, for the smallest n >= 128 giving >= 256 iterations >= 1."""
    if T <= MINIMUM_SNAPSHOTS:
        return list(range(T + 1))
    n = MINIMUM_SNAPSHOTS // 2
    while True:
        s = {0}
        s.update((2 * T * i + n) // (2 * n) for i in range(1, n + 1))
        s.update(int(math.floor(math.pow(T, i / n) + 0.5)) for i in range(0, n + 1))
        if len(s) - 1 >= MINIMUM_SNAPSHOTS:
            return sorted(s)
        n += 1


def settling_time(iterations, distances, q):
    """First snapshot t with distance <= q * distance(0) at every snapshot s >= t; 'censored' when
    only the final snapshot qualifies, 'not_applicable' when distance(0) is 0."""
    d0 = distances[0]
    if iterations[0] != 0 or not d0 > 0:
        return "not_applicable"
    bound = q * d0
    first = None
    for k in range(len(distances)):
        if all(d <= bound for d in distances[k:]):
            first = k
            break
    if first is None or first >= len(distances) - 1:
        return "censored"
    return iterations[first]


def ratio(tw, ta):
    if isinstance(tw, (int, float)) and isinstance(ta, (int, float)):
        return tw / ta if ta > 0 else "not_applicable"
    if isinstance(tw, str) and isinstance(ta, str):
        order = ["censored", "no_decay", "not_applicable"]
        return max(tw, ta, key=order.index)
    return tw if isinstance(tw, str) else ta


def norm(v):
    v = np.asarray(v, dtype=np.float64)
    return float(np.sqrt(np.dot(v, v)))


def model_document(name: str) -> dict:
    golden = json.load(open(os.path.join(GOLDEN_DIR, name)))
    model = make_model(golden["arch"])
    groups = model.layout.groups
    probe = np.asarray(golden["probe_x"], dtype=np.float64).reshape((golden["probe_size"],) + tuple(model.input))
    if golden["arch"].startswith("mlp:"):
        probe = probe.reshape(golden["probe_size"], -1)
    theta0 = np.asarray(golden["init_params"], dtype=np.float64)
    cases = []
    for case in golden["cases"]:
        thetas = [theta0] + [np.asarray(s["params"], dtype=np.float64) for s in case["steps"]]
        T = len(thetas) - 1
        its = snapshot_iterations(T)
        final = thetas[T]
        final_patterns = [z > 0 for z in model.forward(final, probe)[1]]
        pd, pdl, wd, wdl = [], [], [], []
        for s in its:
            pats = [z > 0 for z in model.forward(thetas[s], probe)[1]]
            counts = [int(np.count_nonzero(a != b)) for a, b in zip(pats, final_patterns)]
            pd.append(sum(counts))
            pdl.append(counts)
            d = thetas[s] - final
            wd.append(norm(d))
            wdl.append([norm(d[a:b]) for _, a, b in groups])
        times = {}
        for q in FRACTIONS:
            ta = settling_time(its, pd, q)
            tw = settling_time(its, wd, q)
            times[repr(q)] = {"t_a": ta, "t_w": tw, "ratio": ratio(tw, ta)}
        cases.append({"name": case["name"], "iterations": its, "pattern_distance": pd,
                      "pattern_distance_layers": pdl, "weight_distance": wd, "weight_distance_layers": wdl,
                      "settling": times})
    return {"golden": name, "arch": golden["arch"], "cases": cases}


def main() -> int:
    args = golden_arguments(__doc__, ANALYSIS_GOLDEN_DIR)
    doc = {
        "fractions": FRACTIONS,
        "schedules": [{"total": T, "iterations": snapshot_iterations(T)} for T in SCHEDULE_LENGTHS],
        "models": [model_document(n) for n in ["mlp_optimizers.json", "cnn_optimizers.json", "vit_optimizers.json"]],
    }
    for m in doc["models"]:
        for c in m["cases"]:
            print(f"{m['arch']:28s} {c['name']:28s} pattern distance {c['pattern_distance']}  "
                  + " ".join(f"q={q}: {v['t_a']}/{v['t_w']}" for q, v in c["settling"].items()))
    return write_or_check({"settling.json": doc}, args.out, args.check)


if __name__ == "__main__":
    sys.exit(main())
