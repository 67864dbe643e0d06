#!/usr/bin/env python3
"""Independent float64 NumPy reference of regime's geometric instruments (docs/numerics.md:
"Stability margins", "Flip sensitivity", "Lag distances"), and their golden file.

Written from docs/numerics.md only. The pre-activations come from reference.py (MLP) and
reference_cnn_vit.py (CNN, ViT), evaluated in float64 on float32-exact parameters and inputs.

    python3 scripts/reference/instruments.py           # write Tests/RegimeCoreTests/Golden/instruments.json
    python3 scripts/reference/instruments.py --check   # regenerate in memory, report identical / DIFFERS

For each of a tiny MLP, CNN and ViT: a probe set of P = 32 examples and a sequence of parameter
states theta_0..theta_8 (theta_t = theta_{t-1} + N(0, 0.03^2) per parameter, rounded to float32).
The file holds the states and, computed here:
- margins at t = 0, 4, 8: s_l = sqrt(mean z^2) per pattern layer and the counts of |z| < delta*s_l
  for delta in (0.01, 0.03, 0.1);
- per step t = 1..8 (lag 1): the per-layer counts of differing pattern bits between theta_{t-1}
  and theta_t, the relative update of each layer's feeding prefix, and the flip sensitivities;
- lag 4 at t = 4, 8: the pattern change between theta_t and theta_{t-4} (counts and fraction,
  global and per pattern layer) and the weight distances ||theta_t - theta_{t-4}|| (absolute,
  relative; global and per parameter group).
The seeds are searched (deterministically) until every |z| is at least 2e-5 s_l away from 0 and
from every delta*s_l, and the CNN's pooling windows have no near ties (reference_cnn_vit.margin >
1e-4), so a float32 engine must reproduce every count exactly.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402
import reference_cnn_vit as cv  # noqa: E402
from make_golden import GOLDEN_DIR, f32_exact, flat, golden_arguments, write_or_check  # noqa: E402

DELTAS = [0.01, 0.03, 0.1]
STEPS = 8
LAG = 4
MARGIN_STATES = [0, 4, 8]
PROBE = 32
SIGMA = 0.03
GAP = 2e-5


class MLPModel:
    """The MLP of reference.py behind the small interface this file needs."""

    def __init__(self, arch):
        self.arch = arch
        self.sizes = ref.parse_arch(arch)
        self.input_size = self.sizes[0]
        self.parameter_count = ref.num_params(self.sizes)

    def preactivations(self, theta, X):
        return ref.hidden_preactivations(theta, self.sizes, X)

    def golden_params(self, rng):
        return f32_exact(ref.he_init(self.sizes, rng, bias_std=0.1))

    def feeding(self):
        """Pattern layer l (1-based) is fed by W_1, b_1, ..., W_l, b_l: the block up to b_l's end."""
        return [end for (_, _, end) in ref.layer_ranges(self.sizes)[:-1]]

    def groups(self):
        return [(start, end) for (start, _, end) in ref.layer_ranges(self.sizes)]

    def ok(self, theta, X):
        return True


class CVModel:
    """A CNN or ViT of reference_cnn_vit.py."""

    def __init__(self, arch):
        self.arch = arch
        self.model = cv.make_model(arch)
        self.input_size = int(np.prod(self.model.input))
        self.parameter_count = self.model.layout.size

    def preactivations(self, theta, X):
        return [z.reshape(X.shape[0], -1) for z in self.model.forward(theta, X)[1]]

    def golden_params(self, rng):
        return cv.golden_params(self.model, rng)

    def feeding(self):
        """CNN: a pattern layer's parameters end with its own group (conv_i or fc_j); ViT: block l's
        pattern is fed by everything before its W2 (the embedding, earlier blocks, its attention,
        ln2, W1, b1)."""
        L = self.model.layout
        if isinstance(self.model, cv.CNN):
            ends = {name: end for name, _, end in L.groups}
            return [ends[name] for name, _ in L.patterns]
        return [L.tensors[f"b{l}.b1"][0] + 4 * self.model.D for l in range(1, self.model.depth + 1)]

    def groups(self):
        return [(s, e) for _, s, e in self.model.layout.groups]

    def ok(self, theta, X):
        return cv.margin(self.model, theta, X) > 1e-4


def margins(zs):
    """Per layer s_l and, per delta, the counts of |z| < delta*s_l; and the smallest distance of
    any |z| from 0 or from a threshold, relative to s_l."""
    rms, counts, gap = [], [[] for _ in DELTAS], np.inf
    for z in zs:
        a = np.abs(z.reshape(-1))
        s = float(np.sqrt(np.mean(a * a)))
        rms.append(s)
        gap = min(gap, float(np.min(a)) / s)
        for d, delta in enumerate(DELTAS):
            counts[d].append(int(np.sum(a < delta * s)))
            gap = min(gap, float(np.min(np.abs(a - delta * s))) / s)
    return rms, counts, gap


def diff_counts(za, zb):
    return [int(np.sum((a > 0) != (b > 0))) for a, b in zip(za, zb)]


def rel_prefix(old, new, n):
    d = new[:n] - old[:n]
    return float(np.sqrt(np.dot(d, d) / np.dot(old[:n], old[:n])))


def flip_sensitivity(counts, pairs, old, new, feeding):
    rel = [rel_prefix(old, new, n) for n in feeding]
    per_layer = [(c / p) / r for c, p, r in zip(counts, pairs, rel)]
    glob = (sum(counts) / sum(pairs)) / rel_prefix(old, new, max(feeding))
    return rel, per_layer, glob


def distances(old, new):
    d = new - old
    a = float(np.sqrt(np.dot(d, d)))
    return a, a / float(np.sqrt(np.dot(old, old)))


def group_distances(old, new, groups):
    """Per parameter group (start, end): the absolute and relative weight distances."""
    per_group = [distances(old[s:e], new[s:e]) for s, e in groups]
    return [a for a, _ in per_group], [r for _, r in per_group]


def case(model, seed):
    for attempt in range(10000):
        rng = np.random.default_rng([seed, attempt])
        theta0 = model.golden_params(rng)
        X = f32_exact(rng.normal(size=(PROBE, model.input_size)))
        states = [theta0]
        for _ in range(STEPS):
            states.append(f32_exact(states[-1] + rng.normal(0.0, SIGMA, size=theta0.shape)))
        zs = [model.preactivations(t, X) for t in states]
        gap = min(margins(z)[2] for z in zs)
        if gap > GAP and all(model.ok(t, X) for t in states):
            break
    else:
        raise RuntimeError(f"{model.arch}: no seed found")
    pairs = [z.size for z in zs[0]]
    feeding = model.feeding()
    doc = {
        "arch": model.arch, "seed": [seed, attempt], "probe_size": PROBE, "deltas": DELTAS, "lag": LAG,
        "min_relative_gap": gap, "pairs": pairs, "feeding": feeding,
        "probe_x": flat(X), "states": [flat(t) for t in states],
        "margins": [], "steps": [], "lags": [],
    }
    for t in MARGIN_STATES:
        rms, counts, _ = margins(zs[t])
        doc["margins"].append({"t": t, "rms": rms, "counts": counts})
    for t in range(1, STEPS + 1):
        counts = diff_counts(zs[t - 1], zs[t])
        rel, per_layer, glob = flip_sensitivity(counts, pairs, states[t - 1], states[t], feeding)
        doc["steps"].append({"t": t, "pattern_diff_counts": counts, "feeding_update_rel": rel,
                             "flip_sensitivity": per_layer, "flip_sensitivity_global": glob})
    for t in range(LAG, STEPS + 1, LAG):
        counts = diff_counts(zs[t - LAG], zs[t])
        a, r = distances(states[t - LAG], states[t])
        layer_a, layer_r = group_distances(states[t - LAG], states[t], model.groups())
        doc["lags"].append({"t": t, "pattern_diff_counts": counts, "pattern_change": sum(counts) / sum(pairs),
                            "weight_update_abs": a, "weight_update_rel": r,
                            "layer_pattern_change": [c / p for c, p in zip(counts, pairs)],
                            "layer_weight_update_abs": layer_a, "layer_weight_update_rel": layer_r})
    return doc


CASES = [(MLPModel, "mlp:6-5-4-3", 7101), (CVModel, "cnn:2x6x6-c3k3-p-c4k3s2-fc5-3", 7201),
         (CVModel, "vit:1x6x6-p3-d4-h2-l1-3", 7301)]


def main() -> int:
    args = golden_arguments(__doc__, GOLDEN_DIR)
    cases = []
    for kind, arch, seed in CASES:
        doc = case(kind(arch), seed)
        print(f"  {arch:32s} seed {doc['seed']} gap {doc['min_relative_gap']:.2e} "
              f"step diffs {[s['pattern_diff_counts'] for s in doc['steps']]} margins {[m['counts'] for m in doc['margins']]}")
        cases.append(doc)
    return write_or_check({"instruments.json": {"cases": cases}}, args.out, args.check)


if __name__ == "__main__":
    sys.exit(main())
