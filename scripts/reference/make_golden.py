#!/usr/bin/env python3
"""Writes the golden JSON files of Tests/RegimeCoreTests/Golden from the NumPy reference.

    python3 scripts/reference/make_golden.py            # self test, then write the three files
    python3 scripts/reference/make_golden.py --check    # self test, regenerate in memory, diff

Deterministic: every random draw comes from np.random.default_rng with fixed seeds, and the
seed searches below are deterministic, so re-running reproduces byte-identical files (on the same
machine / NumPy build; the last bit of exp/log/matmul may differ across CPUs and BLAS builds).
See README.md for the schemas and tolerances.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep scripts/reference free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN_DIR = os.path.join(ROOT, "Tests", "RegimeCoreTests", "Golden")
ANALYSIS_GOLDEN_DIR = os.path.join(ROOT, "Tests", "RegimeAnalysisTests", "Golden")

ARCH = "mlp:6-5-4-3"
SIZES = ref.parse_arch(ARCH)
MARGIN_MIN = 1e-3  # required min |hidden pre-activation| (kept away from the ReLU kink)
BIAS_STD = 0.1  # golden parameters have non-zero biases so that bias paths are exercised

# ----------------------------------------------------------------------------------------------
# JSON writer: objects indented, arrays of scalars on one line, floats as repr (shortest
# round-trip float64 text), no NaN/inf.
# ----------------------------------------------------------------------------------------------


def _scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError("non-finite number in golden data")
        return repr(f)
    if isinstance(v, str):
        import json
        return json.dumps(v)
    raise TypeError(f"cannot serialise {type(v)}")


def _is_scalar(v) -> bool:
    return not isinstance(v, (dict, list, tuple, np.ndarray))


def to_json(v, level: int = 0) -> str:
    ind = "  " * (level + 1)
    end = "  " * level
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{ind}{_scalar(str(k))}: {to_json(x, level + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(v, (list, tuple)):
        if all(_is_scalar(x) for x in v):
            return "[" + ", ".join(_scalar(x) for x in v) + "]"
        return "[\n" + ",\n".join(ind + to_json(x, level + 1) for x in v) + "\n" + end + "]"
    return _scalar(v)


def f32_exact(a: np.ndarray) -> np.ndarray:
    """Rounds to the nearest float32 and back: the stored float64 values are exactly what a
    float32 engine reads from the JSON, so inputs carry no rounding difference."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def flat(a) -> list:
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


# ----------------------------------------------------------------------------------------------
# mlp_forward_backward.json
# ----------------------------------------------------------------------------------------------

FB_SEED = 1001
FB_B = 4


def make_forward_backward() -> dict:
    for attempt in range(1000):
        rng = np.random.default_rng([FB_SEED, attempt])
        theta = f32_exact(ref.he_init(SIZES, rng, bias_std=BIAS_STD))
        X = f32_exact(rng.normal(size=(FB_B, SIZES[0])))
        y = rng.integers(0, SIZES[-1], size=FB_B)
        margin = ref.min_abs_hidden_preactivation(theta, SIZES, X)
        if margin > MARGIN_MIN and len(set(y.tolist())) > 1:
            break
    else:
        raise RuntimeError("no seed found")
    loss, logits, grad = ref.loss_and_grad(theta, SIZES, X, y)
    err = ref.check_gradient(theta, SIZES, X, y)
    return {
        "arch": ARCH,
        "sizes": SIZES,
        "batch_size": FB_B,
        "seed": [FB_SEED, attempt],
        "min_abs_preactivation": margin,
        "fd_max_rel_error": err,
        "x": flat(X),
        "labels": [int(v) for v in y],
        "params": flat(theta),
        "logits": flat(logits),
        "loss": loss,
        "grad": flat(grad),
    }


# ----------------------------------------------------------------------------------------------
# mlp_optimizers.json
# ----------------------------------------------------------------------------------------------

OPT_SEED = 2002
OPT_B = 4
OPT_STEPS = 5
PROBE_P = 16


def optimizer_cases() -> list[tuple[str, ref.OptimizerConfig]]:
    T = OPT_STEPS
    C, S = ref.OptimizerConfig, ref.Schedule
    return [
        ("sgd_plain", C("sgd", lr=0.1, total_iterations=T)),
        ("sgd_momentum_wd", C("sgd", lr=0.1, momentum=0.9, weight_decay=1e-3, total_iterations=T)),
        ("sgd_nesterov", C("sgd", lr=0.1, momentum=0.9, nesterov=True, total_iterations=T)),
        ("adam_wd", C("adam", lr=0.01, weight_decay=1e-3, total_iterations=T)),
        ("adamw", C("adamw", lr=0.01, weight_decay=0.1, total_iterations=T)),
        ("sgd_plain_large_lr", C("sgd", lr=1.0, total_iterations=T)),
        ("sgd_momentum_cosine_warmup",
         C("sgd", lr=0.5, momentum=0.9, weight_decay=1e-3,
           schedule=S("cosine", warmup=2, lr_min=0.01), total_iterations=T)),
        ("adam_step", C("adam", lr=0.05, schedule=S("step", step_size=2, gamma=0.5),
                        total_iterations=T)),
    ]


def run_case(cfg: ref.OptimizerConfig, theta0, batches, probe, dtype=np.float64) -> dict:
    """Trains OPT_STEPS steps on the fixed batch sequence; returns per-step records.

    With dtype=float32 this is the float32 *diagnostic* (not written to the golden file).
    """
    theta = np.asarray(theta0, dtype=dtype)
    probe_d = np.asarray(probe, dtype=dtype)
    opt = ref.Optimizer(cfg, theta.size, dtype=dtype)
    pat0 = ref.patterns(theta, SIZES, probe_d)
    pat_prev = pat0
    margin_probe = ref.min_abs_hidden_preactivation(theta, SIZES, probe_d)
    margin_train = math.inf
    steps = []
    for t, (X, y) in enumerate(batches, start=1):
        Xd = np.asarray(X, dtype=dtype)
        margin_train = min(margin_train, ref.min_abs_hidden_preactivation(theta, SIZES, Xd))
        loss, _, grad = ref.loss_and_grad(theta, SIZES, Xd, y)
        new, lr = opt.step(theta, grad)
        wa, wr, wal, wrl = ref.weight_update(theta, new, SIZES)
        pat = ref.patterns(new, SIZES, probe_d)
        pc, pcl, pcn = ref.pattern_change(pat_prev, pat)
        pci, pcil, pcin = ref.pattern_change(pat0, pat)
        margin_probe = min(margin_probe, ref.min_abs_hidden_preactivation(new, SIZES, probe_d))
        steps.append({
            "t": t,
            "lr": lr,
            "loss": loss,
            "grad": grad,
            "params": new,
            "weight_update_abs": wa,
            "weight_update_rel": wr,
            "weight_update_abs_layers": wal,
            "weight_update_rel_layers": wrl,
            "pattern_change": pc,
            "pattern_change_layers": pcl,
            "pattern_diff_counts": pcn,
            "pattern_change_init": pci,
            "pattern_change_init_layers": pcil,
            "pattern_diff_counts_init": pcin,
        })
        theta, pat_prev = new, pat
    return {"steps": steps, "margin_probe": margin_probe, "margin_train": margin_train}


def _rel(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def float32_deviation(r64: dict, r32: dict) -> dict:
    """Max deviation of a float32 run from the float64 golden run (diagnostic)."""
    dev = {"params": 0.0, "grad": 0.0, "loss": 0.0, "weight_update_abs": 0.0,
           "weight_update_rel": 0.0, "patterns_identical": True}
    for s64, s32 in zip(r64["steps"], r32["steps"]):
        dev["params"] = max(dev["params"], _rel(s32["params"], s64["params"]))
        dev["grad"] = max(dev["grad"], _rel(s32["grad"], s64["grad"]))
        dev["loss"] = max(dev["loss"], abs(s32["loss"] - s64["loss"]) / abs(s64["loss"]))
        for k in ("weight_update_abs", "weight_update_rel"):
            a = np.array([s32[k]] + s32[k + "_layers"])
            b = np.array([s64[k]] + s64[k + "_layers"])
            zero = b == 0  # e.g. a layer whose units are all dead on the batch: exact 0
            if np.any(a[zero] != 0):
                dev[k] = math.inf
            dev[k] = max(dev[k], float(np.max(np.abs(a - b)[~zero] / b[~zero])))
        for k in ("pattern_diff_counts", "pattern_diff_counts_init"):
            if s32[k] != s64[k]:
                dev["patterns_identical"] = False
    return dev


def draw_optimizer_data(attempt: int):
    rng = np.random.default_rng([OPT_SEED, attempt])
    theta0 = f32_exact(ref.he_init(SIZES, rng, bias_std=BIAS_STD))
    batches = []
    for _ in range(OPT_STEPS):
        X = f32_exact(rng.normal(size=(OPT_B, SIZES[0])))
        y = rng.integers(0, SIZES[-1], size=OPT_B)
        batches.append((X, y))
    probe = f32_exact(rng.normal(size=(PROBE_P, SIZES[0])))
    return theta0, batches, probe


def make_optimizers() -> tuple[dict, dict]:
    cases = optimizer_cases()
    for attempt in range(10000):
        theta0, batches, probe = draw_optimizer_data(attempt)
        runs = [run_case(cfg, theta0, batches, probe) for _, cfg in cases]
        margin = min(min(r["margin_probe"], r["margin_train"]) for r in runs)
        if margin <= MARGIN_MIN:
            continue
        # patterns must actually move: in at least half of the cases, and in the large-lr ones
        moving = [any(s["pattern_change"] > 0 for s in r["steps"]) for r in runs]
        if sum(moving) < len(cases) // 2 or not moving[5] or not moving[6]:
            continue
        devs = [float32_deviation(r, run_case(cfg, theta0, batches, probe, np.float32))
                for r, (_, cfg) in zip(runs, cases)]
        if not all(d["patterns_identical"] for d in devs):
            continue
        if max(d["params"] for d in devs) > 1e-5:
            continue
        break
    else:
        raise RuntimeError("no seed found")

    # finite-difference check of every recorded gradient (components below 1e-4 * max|g| are
    # compared absolutely: the central difference itself has ~1e-11 absolute round-off)
    fd_err = 0.0
    for r in runs:
        theta = theta0
        for s, (X, y) in zip(r["steps"], batches):
            floor = 1e-4 * float(np.max(np.abs(s["grad"])))
            fd_err = max(fd_err, ref.check_gradient(theta, SIZES, X, y, floor=floor))
            theta = s["params"]

    out_cases = []
    for (name, cfg), r in zip(cases, runs):
        steps = []
        for s in r["steps"]:
            s = dict(s)
            s["grad"] = flat(s["grad"])
            s["params"] = flat(s["params"])
            steps.append(s)
        out_cases.append({
            "name": name,
            "optimizer": cfg.to_json(),
            "min_abs_preactivation_probe": r["margin_probe"],
            "min_abs_preactivation_train": r["margin_train"],
            "steps": steps,
        })
    doc = {
        "arch": ARCH,
        "sizes": SIZES,
        "batch_size": OPT_B,
        "num_steps": OPT_STEPS,
        "probe_size": PROBE_P,
        "seed": [OPT_SEED, attempt],
        "min_abs_preactivation": margin,
        "fd_max_rel_error": fd_err,
        "init_params": flat(theta0),
        "batches": [{"x": flat(X), "labels": [int(v) for v in y]} for X, y in batches],
        "probe_x": flat(probe),
        "cases": out_cases,
    }
    diag = {name: d for (name, _), d in zip(cases, devs)}
    return doc, diag


# ----------------------------------------------------------------------------------------------
# decay_curves.json
# ----------------------------------------------------------------------------------------------

DECAY_SEED = 3003
THRESHOLDS = [0.05, 0.1, 0.2]


def decay_curve_specs():
    rng = np.random.default_rng(DECAY_SEED)
    specs = []

    def add(name, description, its, values, smoothing, peak_window=50, peak_skip=0):
        specs.append({"name": name, "description": description,
                      "options": {"smoothing": smoothing, "thresholds": THRESHOLDS,
                                  "peak_window": peak_window, "peak_skip": peak_skip},
                      "iterations": [int(i) for i in its], "values": flat(values)})

    it = np.arange(1, 301)
    add("exp_pure", "exp(-it/40), recorded every iteration, no smoothing",
        it, np.exp(-it / 40.0), smoothing=1)

    it = np.arange(5, 1501, 5)
    add("two_phase", "0.7 exp(-it/50) + 0.3 exp(-it/600), recorded every 5 iterations",
        it, 0.7 * np.exp(-it / 50.0) + 0.3 * np.exp(-it / 600.0), smoothing=5)

    it = np.arange(1, 301)
    noisy = np.exp(-it / 60.0) * np.exp(rng.normal(0.0, 0.4, size=it.size)) \
        + np.abs(rng.normal(0.0, 0.004, size=it.size))
    add("noisy", "exp(-it/60) * lognormal(0, 0.4) + |N(0, 0.004)|; re-crosses the thresholds",
        it, noisy, smoothing=10)

    it = np.arange(5, 1001, 5)
    flatc = 1.0 + 0.2 * np.sin(it / 100.0) + rng.normal(0.0, 0.05, size=it.size)
    add("never_decays", "1 + 0.2 sin(it/100) + N(0, 0.05): every time and auc90 censored",
        it, flatc, smoothing=5)

    it = np.arange(4, 1201, 4)
    add("rise_then_decay", "(it/100) exp(1 - it/100): maximum at it=100, after the peak window",
        it, (it / 100.0) * np.exp(1.0 - it / 100.0), smoothing=5)

    it = np.arange(1, 301)
    zp = np.where(it <= 60, 0.0, np.exp(-(it - 60) / 30.0))
    add("nonpositive_peak", "0 for it <= 60 then exp decay: peak (window 50) is 0, all censored",
        it, zp, smoothing=3)

    it = np.arange(1, 301)
    sp = np.exp(-it / 50.0)
    sp[:5] *= 50.0
    add("early_spike_skip", "exp(-it/50) with the first 5 points x50; peak_skip 10 ignores them",
        it, sp, smoothing=3, peak_window=60, peak_skip=10)

    it = np.arange(5, 1201, 5)
    add("plateau", "0.93 exp(-it/40) + 0.07: eps 0.05 censored, 0.1/0.2 and auc90 defined",
        it, 0.93 * np.exp(-it / 40.0) + 0.07, smoothing=5)

    it = np.arange(5, 1001, 5)
    add("partial", "0.7 exp(-it/100) + 0.3: every eps censored, auc90 defined (final n < 0.5)",
        it, 0.7 * np.exp(-it / 100.0) + 0.3, smoothing=5)

    it = np.arange(1, 301)
    add("ratio_w", "weight-update-like curve exp(-it/45) * (1 + N(0, 0.05))",
        it, np.exp(-it / 45.0) * (1.0 + rng.normal(0.0, 0.05, size=it.size)), smoothing=5)
    add("ratio_a", "pattern-change-like curve exp(-it/15) * (1 + N(0, 0.05))",
        it, np.exp(-it / 15.0) * (1.0 + rng.normal(0.0, 0.05, size=it.size)), smoothing=5)
    return specs


RATIO_PAIRS = [("ratio_w", "ratio_a"), ("plateau", "exp_pure"), ("two_phase", "never_decays")]
TIE_GAP = 1e-5  # no decision may hinge on a relative difference smaller than this (so even a
# float32 curve pipeline reaches the same integer times)


def check_no_near_ties(spec, res):
    """Every threshold/auc90 decision must be robust to last-bit differences in smoothing."""
    if res["normalised"] is None:
        return
    n = res["normalised"]
    for e in spec["options"]["thresholds"]:
        gap = np.min(np.abs(n - e)) / e
        assert gap > TIE_GAP, (spec["name"], e, gap)
    s = res["smoothed"]
    cs = np.cumsum(s)
    if res["auc90"] is not None:
        gap = np.min(np.abs(cs - 0.9 * cs[-1])) / cs[-1]
        assert gap > TIE_GAP, (spec["name"], "auc90", gap)
    assert abs(n[-1] - 0.5) > TIE_GAP


def make_decay() -> dict:
    specs = decay_curve_specs()
    by_name = {}
    curves = []
    for spec in specs:
        o = spec["options"]
        res = ref.analyse_curve(spec["values"], spec["iterations"], o["smoothing"],
                                o["thresholds"], o["peak_window"], o["peak_skip"])
        check_no_near_ties(spec, res)
        by_name[spec["name"]] = res
        curves.append({**spec, "expected": {
            "smoothed": flat(res["smoothed"]),
            "peak": res["peak"],
            "threshold_times": res["threshold_times"],
            "auc90": res["auc90"],
        }})
    ratios = []
    for w, a in RATIO_PAIRS:
        tw = by_name[w]["threshold_times"]
        ta = by_name[a]["threshold_times"]
        ratios.append({"w": w, "a": a, "thresholds": THRESHOLDS, "t_w": tw, "t_a": ta,
                       "ratio": [ref.ratio(x, y) for x, y in zip(tw, ta)]})
    return {"thresholds": THRESHOLDS, "curves": curves, "ratios": ratios}


# ----------------------------------------------------------------------------------------------


def main() -> int:
    args = golden_arguments(__doc__, GOLDEN_DIR)

    print("reference self test (finite-difference gradient check etc.)")
    ref.self_test(verbose=True)

    fb = make_forward_backward()
    opt, diag = make_optimizers()
    dec = make_decay()

    print(f"forward/backward: seed {fb['seed']}, margin {fb['min_abs_preactivation']:.3e}, "
          f"fd err {fb['fd_max_rel_error']:.1e}")
    print(f"optimizers: seed {opt['seed']}, margin {opt['min_abs_preactivation']:.3e}, "
          f"fd err {opt['fd_max_rel_error']:.1e}")
    for c in opt["cases"]:
        pcs = [s["pattern_diff_counts"] for s in c["steps"]]
        d = diag[c["name"]]
        print(f"  {c['name']:28s} pattern diffs/step {pcs}  float32 dev: params {d['params']:.1e}"
              f" grad {d['grad']:.1e} loss {d['loss']:.1e} wu_abs {d['weight_update_abs']:.1e}"
              f" wu_rel {d['weight_update_rel']:.1e}")
    for c in dec["curves"]:
        e = c["expected"]
        print(f"  {c['name']:18s} peak {e['peak']!r:24s} times {e['threshold_times']} "
              f"auc90 {e['auc90']}")
    for r in dec["ratios"]:
        print(f"  ratio {r['w']}/{r['a']}: {r['ratio']}")

    files = {"mlp_forward_backward.json": fb, "mlp_optimizers.json": opt,
             os.path.join(ANALYSIS_GOLDEN_DIR, "decay_curves.json"): dec}
    if not args.check:
        os.makedirs(args.out, exist_ok=True)
    return write_or_check(files, args.out, args.check)


def golden_arguments(description: str, default_out: str) -> argparse.Namespace:
    """The command line every golden-file script takes: `--check` (regenerate in memory, compare,
    write nothing) and `--out DIR` (default `default_out`)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if a file on disk differs from a regeneration")
    ap.add_argument("--out", default=default_out, help="output directory")
    return ap.parse_args()


def write_or_check(files: dict, directory: str, check: bool) -> int:
    """Writes each document as JSON to `directory`/name (an absolute name as is), or with `check`
    compares it with the file there; returns 1 if any differs."""
    status = 0
    for name, doc in files.items():
        text = to_json(doc) + "\n"
        path = name if os.path.isabs(name) else os.path.join(directory, name)
        if check:
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
