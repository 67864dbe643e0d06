#!/usr/bin/env python3
"""Golden files of gated (decoupled) training: a few optimizer steps of the tiny MLP, CNN and ViT
whose activation gates freeze after step F (docs/numerics.md, "Gated training").

    python3 scripts/reference/make_gated_golden.py            # self test, then write 3 files
    python3 scripts/reference/make_gated_golden.py --check    # regenerate in memory, diff

Files (Tests/RegimeCoreTests/Golden): mlp_gated.json, cnn_gated.json, vit_gated.json, in the
schema of cnn_optimizers.json plus `freeze_after` and, per step, the gate disagreement (schema
in scripts/reference/README.md). Steps 1..F train the ReLU network; theta_g = theta_F; step t > F
trains the gated network: gates 1[z_l(theta_g; x) > 0] on batch t, the value parameters
theta_{t-1} computing h_l = z_l(theta_{t-1}; x) where the gate is open, 0 elsewhere. The pattern
instruments measure theta_t's own ReLU patterns on the probe; the gate disagreement compares them
with theta_g's.

Deterministic: fixed np.random.default_rng seeds and deterministic seed searches.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402
import reference_cnn_vit as rcv  # noqa: E402
from make_golden import GOLDEN_DIR, f32_exact, flat, golden_arguments, write_or_check  # noqa: E402

MARGIN_MIN = 1e-4  # every decision (gate, pattern bit, pooling winner) at least this far from a tie
NUM_STEPS = 4
FREEZE_AFTER = 2


class MLP:
    """mlp:D0-...-DL (reference.py) behind the CNN/ViT model interface: a Layout with groups fc<l>
    and pattern layers fc<l> (hidden), forward(theta, X, gates=...) -> (logits, hidden Zs),
    loss_and_grad(theta, X, y, gates=...)."""

    def __init__(self, arch):
        self.arch = arch
        self.sizes = ref.parse_arch(arch)
        self.input = (self.sizes[0],)
        self.classes = self.sizes[-1]
        L = rcv.Layout()
        for l in range(1, len(self.sizes)):
            start = L.size
            L.add(f"fc{l}.W", (self.sizes[l], self.sizes[l - 1]))
            L.add(f"fc{l}.b", (self.sizes[l],))
            L.groups.append((f"fc{l}", start, L.size))
            if l < len(self.sizes) - 1:
                L.patterns.append((f"fc{l}", self.sizes[l]))
        self.layout = L

    def forward(self, theta, X, keep=False, gates=None):
        logits, Zs, _ = ref.forward(theta, self.sizes, X, gates)
        return logits, Zs[:-1]

    def loss_and_grad(self, theta, X, y, gates=None):
        return ref.loss_and_grad(theta, self.sizes, X, y, gates)


def make_model(arch):
    return MLP(arch) if arch.startswith("mlp:") else rcv.make_model(arch)


def counts(run):
    return [(s["pattern_diff_counts"], s["pattern_diff_counts_init"], s["gate_disagreement_counts"]) for s in run["steps"]]


def gated_file(arch, B, P, seed):
    model = make_model(arch)
    cases = rcv.optimizer_cases(NUM_STEPS)[:2]  # sgd_momentum_wd, adam
    n_in = int(np.prod(model.input))
    for attempt in range(10000):
        rng = np.random.default_rng([seed, attempt])
        theta0 = rcv.golden_params(model, rng)
        batches = [(f32_exact(rng.normal(size=(B, n_in))), rng.integers(0, model.classes, size=B)) for _ in range(NUM_STEPS)]
        probe = f32_exact(rng.normal(size=(P, n_in)))
        runs = [rcv.run_case(model, cfg, theta0, batches, probe, freeze_after=FREEZE_AFTER) for _, cfg in cases]
        m = min(min(r["margin_probe"], r["margin_train"]) for r in runs)
        if m <= MARGIN_MIN:
            continue
        # Patterns move, before and after the freeze, and drift from the gates by the last step;
        # the gates change a gated step's gradient (by >= 1% normwise) from the ReLU network's.
        if not all(any(s["pattern_change"] > 0 for s in r["steps"][:FREEZE_AFTER])
                   and any(s["pattern_change"] > 0 for s in r["steps"][FREEZE_AFTER:])
                   and r["steps"][-1]["gate_disagreement"] > 0 and r["gating_effect"] > 1e-2 for r in runs):
            continue
        runs32 = [rcv.run_case(model, cfg, theta0, batches, probe, np.float32, FREEZE_AFTER) for _, cfg in cases]
        if all(counts(r32) == counts(r64) for r32, r64 in zip(runs32, runs)):
            break
    else:
        raise RuntimeError("no seed found")
    fd = 0.0
    for r in runs:
        theta = theta0
        for s, (X, y), gates in zip(r["steps"], batches, r["gates"]):
            fd = max(fd, rcv.fd_check(model, theta, X, y, gates=gates))
            theta = s["params"]
    dev = {"params": 0.0, "grad": 0.0, "gating": min(r["gating_effect"] for r in runs)}
    for r32, r64 in zip(runs32, runs):
        for s32, s64 in zip(r32["steps"], r64["steps"]):
            dev["params"] = max(dev["params"], rcv._rel(s32["params"], s64["params"]))
            dev["grad"] = max(dev["grad"], rcv._rel(s32["grad"], s64["grad"]))
    header = {"arch": arch, "batch_size": B, "num_steps": NUM_STEPS, "freeze_after": FREEZE_AFTER, "probe_size": P,
              "seed": [seed, attempt]}
    return rcv.trajectory_document(header, model, m, fd, theta0, batches, probe, cases, runs), dev


FILES = [("mlp_gated.json", ("mlp:6-5-4-3", 4, 16, 6101)),
         ("cnn_gated.json", ("cnn:2x6x6-c3k3-p-c4k3s2-fc5-3", 4, 8, 6201)),
         ("vit_gated.json", ("vit:1x6x6-p3-d4-h2-l1-3", 4, 8, 6301))]


def self_test():
    """Gated gradients against central differences; with gates equal to the network's own
    patterns the gated loss and gradient are the ReLU network's."""
    for arch, B, seed in (("mlp:5-4-3-3", 3, 1), ("cnn:2x7x7-c2k3-p-c3k3s2-fc4-3", 3, 2), ("vit:1x4x4-p2-d4-h2-l2-3", 3, 3)):
        model = make_model(arch)
        rng = np.random.default_rng([seed, 0])
        theta_g = rcv.golden_params(model, rng)
        theta = theta_g + rng.normal(0.0, 0.1, size=theta_g.size)
        X = rng.normal(size=(B, int(np.prod(model.input))))
        y = rng.integers(0, model.classes, size=B)
        gates = rcv.gates_of(model, theta_g, X)
        err = rcv.fd_check(model, theta, X, y, floor_fraction=1e-6, gates=gates)
        own = rcv.gates_of(model, theta, X)
        l1, _, g1 = model.loss_and_grad(theta, X, y)
        l2, _, g2 = model.loss_and_grad(theta, X, y, gates=own)
        print(f"  gated grad check {arch:32s} B={B}: max rel error {err:.2e}; own gates = ReLU: "
              f"{l1 == l2 and np.array_equal(g1, g2)}")
        assert err < 1e-5, (arch, err)
        assert l1 == l2 and np.array_equal(g1, g2), arch


def main():
    args = golden_arguments(__doc__, GOLDEN_DIR)
    print("gated reference self test")
    self_test()
    status = 0
    for name, spec in FILES:
        doc, dev = gated_file(*spec)
        print(f"  {doc['arch']:32s} seed {doc['seed']} margin {doc['min_margin']:.2e} fd err {doc['fd_max_rel_error']:.1e}; "
              f"float32 dev params {dev['params']:.1e} grad {dev['grad']:.1e}; gated vs ReLU gradient {dev['gating']:.1e}")
        for c in doc["cases"]:
            print(f"    {c['name']:16s} pattern diffs/step {[s['pattern_diff_counts'] for s in c['steps']]} "
                  f"gate disagreement/step {[s['gate_disagreement_counts'] for s in c['steps']]}")
        status |= write_or_check({name: doc}, args.out, args.check)
    return status


if __name__ == "__main__":
    sys.exit(main())
