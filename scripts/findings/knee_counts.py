#!/usr/bin/env python3
"""How often the knee is a number, per sweep, from the timing.jsonl that `regime analyze` wrote.

    python3 scripts/findings/knee_counts.py results/quick results/paper-mlp ...

Per sweep: counts of each outcome (a number, or censored / no_decay / not_applicable) of the knee
of both curves (t_w and t_a) of every trial, for the `timing` view (the knee is fitted per unit
learning rate in both views, so `timing_lr_normalized` gives the same counts).
"""
import collections
import json
import sys

for directory in sys.argv[1:]:
    counts = collections.Counter()
    with open(f"{directory}/timing.jsonl") as f:
        for line in f:
            knee = json.loads(line)["timing"]["knee"]
            for key in ("t_w", "t_a"):
                value = knee[key]
                counts["number" if isinstance(value, (int, float)) else value] += 1
    total = sum(counts.values())
    print(f"{directory}: {total} curves: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
