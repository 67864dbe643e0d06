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

import argparse
import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402
import reference_cnn_vit as rcv  # noqa: E402
from make_golden import GOLDEN_DIR, f32_exact, flat, to_json  # noqa: E402

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


def gates_of(model, theta_g, X, dtype):
    """The gates 1[z_l(theta_g; X) > 0], per pattern layer, (B, units)."""
    return [(z > 0).astype(dtype) for z in model.forward(theta_g, X)[1]]


def gated_pool_gap(model, theta, X, gates):
    """CNN: min over the gated forward's pooling windows of (winner - largest smaller entry); a tie
    of open units (equal non-zero winners) counts as 0, a tie of closed units' exact zeros does not
    (neither depends on the parameters). inf for other models or without pools."""
    if not isinstance(model, rcv.CNN):
        return math.inf
    _, _, cache = model.forward(theta, X, keep=True, gates=gates)
    gap = math.inf
    for op, c in zip(model.ops, cache):
        if op["kind"] != "pool":
            continue
        st = np.sort(rcv.pool_candidates(c[0]), axis=0)
        top = st[-1]
        below = np.full(top.shape, np.inf)
        for k in (2, 1, 0):
            below = np.where(np.isinf(below) & (st[k] < top), top - st[k], below)
        below = np.where((st[-2] == top) & (top != 0), 0.0, below)
        gap = min(gap, float(np.min(below)))
    return gap


def run_case(model, cfg, theta0, batches, probe, dtype=np.float64):
    theta = np.asarray(theta0, dtype=dtype)
    probe = np.asarray(probe, dtype=dtype)
    opt = ref.Optimizer(cfg, theta.size, dtype=dtype)
    pat0 = rcv.patterns(model, theta, probe)
    prev = pat0
    m_probe = rcv.margin(model, theta, probe)
    m_train = math.inf
    theta_g, gate_probe = None, None
    steps, gate_list = [], []
    gating_effect = 0.0  # largest normwise difference of a gated step's gradient from the ReLU one
    for t, (X, y) in enumerate(batches, start=1):
        X = np.asarray(X, dtype=dtype)
        gates = None
        if theta_g is None:
            m_train = min(m_train, rcv.margin(model, theta, X))
        else:
            gates = gates_of(model, theta_g, X, dtype)
            m_train = min(m_train, rcv.margin(model, theta_g, X), gated_pool_gap(model, theta, X, gates))
        gate_list.append(gates)
        loss, _, grad = model.loss_and_grad(theta, X, y, gates=gates)
        if gates is not None:
            gating_effect = max(gating_effect, rcv._rel(model.loss_and_grad(theta, X, y)[2], grad))
        new, lr = opt.step(theta, grad)
        wa, wr, wal, wrl = rcv.weight_update(model, theta, new)
        pat = rcv.patterns(model, new, probe)
        pc, pcl, pcn = ref.pattern_change(prev, pat)
        pci, pcil, pcin = ref.pattern_change(pat0, pat)
        m_probe = min(m_probe, rcv.margin(model, new, probe))
        if t == FREEZE_AFTER:
            theta_g, gate_probe = new, pat
        gd, gdl, gdn = ref.pattern_change(gate_probe, pat) if gate_probe is not None else (None, None, None)
        steps.append({"t": t, "lr": lr, "loss": loss, "grad": grad, "params": new,
                      "weight_update_abs": wa, "weight_update_rel": wr,
                      "weight_update_abs_layers": wal, "weight_update_rel_layers": wrl,
                      "pattern_change": pc, "pattern_change_layers": pcl, "pattern_diff_counts": pcn,
                      "pattern_change_init": pci, "pattern_change_init_layers": pcil,
                      "pattern_diff_counts_init": pcin,
                      "gate_disagreement": gd, "gate_disagreement_layers": gdl, "gate_disagreement_counts": gdn})
        theta, prev = new, pat
    return {"steps": steps, "gates": gate_list, "margin_probe": m_probe, "margin_train": m_train,
            "gating_effect": gating_effect}


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
        runs = [run_case(model, cfg, theta0, batches, probe) for _, cfg in cases]
        m = min(min(r["margin_probe"], r["margin_train"]) for r in runs)
        if m <= MARGIN_MIN:
            continue
        # Patterns move, before and after the freeze, and drift from the gates by the last step;
        # the gates change a gated step's gradient (by >= 1% normwise) from the ReLU network's.
        if not all(any(s["pattern_change"] > 0 for s in r["steps"][:FREEZE_AFTER])
                   and any(s["pattern_change"] > 0 for s in r["steps"][FREEZE_AFTER:])
                   and r["steps"][-1]["gate_disagreement"] > 0 and r["gating_effect"] > 1e-2 for r in runs):
            continue
        runs32 = [run_case(model, cfg, theta0, batches, probe, np.float32) for _, cfg in cases]
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
    out_cases = []
    for (name, cfg), r in zip(cases, runs):
        st = []
        for s in r["steps"]:
            s = dict(s)
            s["grad"] = flat(s["grad"])
            s["params"] = flat(s["params"])
            st.append(s)
        out_cases.append({"name": name, "optimizer": cfg.to_json(), "min_margin_probe": r["margin_probe"],
                          "min_margin_train": r["margin_train"], "steps": st})
    doc = {
        "arch": arch,
        "batch_size": B,
        "num_steps": NUM_STEPS,
        "freeze_after": FREEZE_AFTER,
        "probe_size": P,
        "seed": [seed, attempt],
        "parameter_count": model.layout.size,
        "groups": [[n, s, e] for n, s, e in model.layout.groups],
        "pattern_units": [u for _, u in model.layout.patterns],
        "min_margin": m,
        "fd_max_rel_error": fd,
        "init_params": flat(theta0),
        "batches": [{"x": flat(X), "labels": [int(v) for v in y]} for X, y in batches],
        "probe_x": flat(probe),
        "cases": out_cases,
    }
    return doc, dev


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
        gates = gates_of(model, theta_g, X, np.float64)
        err = rcv.fd_check(model, theta, X, y, floor_fraction=1e-6, gates=gates)
        own = gates_of(model, theta, X, np.float64)
        l1, _, g1 = model.loss_and_grad(theta, X, y)
        l2, _, g2 = model.loss_and_grad(theta, X, y, gates=own)
        print(f"  gated grad check {arch:32s} B={B}: max rel error {err:.2e}; own gates = ReLU: "
              f"{l1 == l2 and np.array_equal(g1, g2)}")
        assert err < 1e-5, (arch, err)
        assert l1 == l2 and np.array_equal(g1, g2), arch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if a file on disk differs")
    ap.add_argument("--out", default=GOLDEN_DIR)
    args = ap.parse_args()
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
        text = to_json(doc) + "\n"
        path = os.path.join(args.out, name)
        if args.check:
            same = os.path.exists(path) and open(path).read() == text
            print(f"{name}: {'identical' if same else 'DIFFERS'}")
            status |= 0 if same else 1
        else:
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {path} ({len(text.encode())} bytes)")
    return status


if __name__ == "__main__":
    sys.exit(main())
