"""Independent NumPy reference for regime's numerical conventions.

Implemented from docs/numerics.md only. Every computation is float64 unless a caller explicitly
passes float32 arrays (only the float32 *diagnostic* in make_golden.py does that, to estimate
the tolerances a float32 engine can meet; the golden values themselves are float64).

Contents
- architecture / flat parameter layout (W1, b1, W2, b2, ..., WL, bL; W_l is (D_l, D_{l-1}) row-major)
- MLP forward (logits), mean softmax cross-entropy, exact backward in the flat layout
- SGD (plain / momentum / nesterov, L2 weight decay), Adam (L2 wd), AdamW (decoupled wd)
- learning-rate schedules: constant, step, cosine, each optionally with linear warm-up
- activation patterns and pattern change (per hidden layer and global)
- weight_update_abs / weight_update_rel (global and per layer)
- decay detection: trailing moving average, early-peak normalisation, threshold times,
  auc90, ratio
- self_test(): central finite-difference gradient check and small closed-form checks
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

F64 = np.float64

# --------------------------------------------------------------------------------------------
# Architecture and flat parameter layout
# --------------------------------------------------------------------------------------------


def parse_arch(arch: str) -> list[int]:
    """'mlp:6-5-4-3' -> [6, 5, 4, 3] (D0, D1, ..., DL)."""
    kind, _, dims = arch.partition(":")
    if kind != "mlp" or not dims:
        raise ValueError(f"unsupported architecture {arch!r}")
    sizes = [int(d) for d in dims.split("-")]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"bad architecture {arch!r}")
    return sizes


def layer_ranges(sizes: list[int]) -> list[tuple[int, int, int]]:
    """Per affine layer l = 1..L: (start of W_l, start of b_l, end of b_l) in the flat block."""
    out, off = [], 0
    for l in range(1, len(sizes)):
        w0 = off
        b0 = w0 + sizes[l] * sizes[l - 1]
        b1 = b0 + sizes[l]
        out.append((w0, b0, b1))
        off = b1
    return out


def num_params(sizes: list[int]) -> int:
    return layer_ranges(sizes)[-1][2]


def unpack(theta: np.ndarray, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Views (W_l (D_l, D_{l-1}), b_l (D_l,)) into the flat block."""
    assert theta.ndim == 1 and theta.size == num_params(sizes)
    layers = []
    for l, (w0, b0, b1) in enumerate(layer_ranges(sizes), start=1):
        W = theta[w0:b0].reshape(sizes[l], sizes[l - 1])
        b = theta[b0:b1]
        layers.append((W, b))
    return layers


def he_init(sizes: list[int], rng: np.random.Generator, bias_std: float = 0.0) -> np.ndarray:
    """He/Kaiming normal W ~ N(0, 2/D_{l-1}); b ~ N(0, bias_std^2) (0 = the engine's b = 0).

    Only used to make golden inputs; the engine's own init is not part of the reference.
    """
    theta = np.zeros(num_params(sizes), dtype=F64)
    for l, (w0, b0, b1) in enumerate(layer_ranges(sizes), start=1):
        theta[w0:b0] = rng.normal(0.0, math.sqrt(2.0 / sizes[l - 1]), size=b0 - w0)
        if bias_std > 0:
            theta[b0:b1] = rng.normal(0.0, bias_std, size=b1 - b0)
    return theta


# --------------------------------------------------------------------------------------------
# Forward, loss, backward
# --------------------------------------------------------------------------------------------


def forward(theta: np.ndarray, sizes: list[int], X: np.ndarray, gates=None):
    """X (B, D0) -> (logits Z_L (B, K), Zs = [Z_1..Z_L], Hs = [H_0..H_{L-1}]).

    With `gates` ([G_1..G_{L-1}], each (B, D_l), open where > 0) the hidden layers are gated:
    H_l = Z_l where G_l is open, else 0 (docs/numerics.md, "Gated training")."""
    X = np.asarray(X)
    assert X.ndim == 2 and X.shape[1] == sizes[0]
    H = X
    Zs, Hs = [], [X]
    layers = unpack(theta, sizes)
    for l, (W, b) in enumerate(layers, start=1):
        Z = H @ W.T + b
        Zs.append(Z)
        if l < len(layers):
            H = np.maximum(Z, 0) if gates is None else np.where(gates[l - 1] > 0, Z, 0.0)
            Hs.append(H)
    return Zs[-1], Zs, Hs


def hidden_preactivations(theta: np.ndarray, sizes: list[int], X: np.ndarray) -> list[np.ndarray]:
    """[Z_1, ..., Z_{L-1}] (the layers that have a pattern)."""
    _, Zs, _ = forward(theta, sizes, X)
    return Zs[:-1]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """mean_b( logsumexp(Z_L[b,:]) - Z_L[b, y_b] ), computed stably."""
    labels = np.asarray(labels, dtype=np.int64)
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    picked = logits[np.arange(logits.shape[0]), labels]
    return float(np.mean(lse - picked))


def loss_and_grad(theta: np.ndarray, sizes: list[int], X: np.ndarray, labels: np.ndarray, gates=None):
    """(loss, logits, grad) with grad in the flat layout of theta (same dtype as theta); gated
    by `gates` as in `forward`."""
    labels = np.asarray(labels, dtype=np.int64)
    logits, Zs, Hs = forward(theta, sizes, X, gates)
    B = logits.shape[0]
    loss = cross_entropy(logits, labels)
    # d loss / d Z_L = (softmax - onehot) / B
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    P = e / e.sum(axis=1, keepdims=True)
    P[np.arange(B), labels] -= 1
    dZ = P / B
    grad = np.zeros_like(theta)
    layers = unpack(theta, sizes)
    ranges = layer_ranges(sizes)
    for l in range(len(layers), 0, -1):
        W, _ = layers[l - 1]
        w0, b0, b1 = ranges[l - 1]
        H_prev = Hs[l - 1]
        grad[w0:b0] = (dZ.T @ H_prev).reshape(-1)
        grad[b0:b1] = dZ.sum(axis=0)
        if l > 1:
            dH = dZ @ W
            dZ = dH * ((Zs[l - 2] > 0) if gates is None else (gates[l - 2] > 0))  # relu'(z) = 1 if z > 0 else 0
    return loss, logits, grad


def loss_only(theta, sizes, X, labels) -> float:
    logits, _, _ = forward(theta, sizes, X)
    return cross_entropy(logits, labels)


def finite_difference_grad(theta, sizes, X, labels, h: float = 1e-5) -> np.ndarray:
    """Central differences (float64); h = 1e-5 balances truncation and round-off."""
    theta = np.array(theta, dtype=F64)
    g = np.zeros_like(theta)
    for i in range(theta.size):
        tp = theta.copy()
        tm = theta.copy()
        tp[i] += h
        tm[i] -= h
        g[i] = (loss_only(tp, sizes, X, labels) - loss_only(tm, sizes, X, labels)) / (2 * h)
    return g


def grad_rel_error(g: np.ndarray, g_fd: np.ndarray, floor: float = 1e-8) -> float:
    """max_i |g_i - fd_i| / max(|g_i|, |fd_i|, floor)."""
    den = np.maximum(np.maximum(np.abs(g), np.abs(g_fd)), floor)
    return float(np.max(np.abs(g - g_fd) / den))


# --------------------------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------------------------


@dataclass
class Schedule:
    name: str = "constant"  # constant | step | cosine
    warmup: int = 0  # W; 0 = no warm-up
    step_size: int = 1  # for "step"
    gamma: float = 1.0  # for "step"
    lr_min: float = 0.0  # for "cosine"

    def to_json(self) -> dict:
        return {"name": self.name, "warmup": self.warmup, "step_size": self.step_size,
                "gamma": self.gamma, "lr_min": self.lr_min}


def lr_at(t: int, T: int, lr0: float, sched: Schedule) -> float:
    """Learning rate of optimizer step t (1-based) out of T total iterations."""
    if t < 1:
        raise ValueError("steps are 1-based")
    W = sched.warmup
    if W > 0 and t <= W:
        return lr0 * t / W
    # after the warm-up the base schedule runs as if at step t-W of T-W
    tt, TT = t - W, T - W
    if sched.name == "constant":
        return float(lr0)
    if sched.name == "step":
        return lr0 * sched.gamma ** ((tt - 1) // sched.step_size)
    if sched.name == "cosine":
        return sched.lr_min + 0.5 * (lr0 - sched.lr_min) * (1 + math.cos(math.pi * (tt - 1) / TT))
    raise ValueError(f"unknown schedule {sched.name!r}")


# --------------------------------------------------------------------------------------------
# Optimizers (PyTorch conventions)
# --------------------------------------------------------------------------------------------


@dataclass
class OptimizerConfig:
    name: str  # sgd | adam | adamw
    lr: float
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    schedule: Schedule = field(default_factory=Schedule)
    total_iterations: int = 1

    def to_json(self) -> dict:
        return {"name": self.name, "lr": self.lr, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay,
                "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "schedule": self.schedule.to_json(), "total_iterations": self.total_iterations}


class Optimizer:
    """Holds the optimizer state; step() returns the new parameter block (does not alias)."""

    def __init__(self, cfg: OptimizerConfig, n: int, dtype=F64):
        self.cfg = cfg
        self.t = 0
        self.dtype = dtype
        self.buf = None  # SGD momentum buffer (None until the first momentum step: v_1 = g')
        self.m = np.zeros(n, dtype=dtype)
        self.v = np.zeros(n, dtype=dtype)

    def lr(self, t: int) -> float:
        c = self.cfg
        return lr_at(t, c.total_iterations, c.lr, c.schedule)

    def step(self, theta: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, float]:
        c = self.cfg
        self.t += 1
        t = self.t
        dt = self.dtype
        lr = dt(self.lr(t))
        theta = theta.copy()
        if c.name == "sgd":
            wd, mu = dt(c.weight_decay), dt(c.momentum)
            gp = g + wd * theta
            if c.momentum == 0:
                d = gp
            else:
                self.buf = gp.copy() if self.buf is None else mu * self.buf + gp
                d = gp + mu * self.buf if c.nesterov else self.buf
            theta -= lr * d
        elif c.name in ("adam", "adamw"):
            b1, b2, eps = dt(c.beta1), dt(c.beta2), dt(c.eps)
            if c.name == "adamw":
                theta -= lr * dt(c.weight_decay) * theta
                gp = g
            else:
                gp = g + dt(c.weight_decay) * theta
            self.m = b1 * self.m + (1 - b1) * gp
            self.v = b2 * self.v + (1 - b2) * gp * gp
            mhat = self.m / (1 - b1 ** t)
            vhat = self.v / (1 - b2 ** t)
            theta -= lr * mhat / (np.sqrt(vhat) + eps)
        else:
            raise ValueError(f"unknown optimizer {c.name!r}")
        return theta, float(lr)


# --------------------------------------------------------------------------------------------
# Activation patterns and weight updates
# --------------------------------------------------------------------------------------------


def patterns(theta: np.ndarray, sizes: list[int], X: np.ndarray) -> list[np.ndarray]:
    """Bit vectors Z_l > 0 (strictly) for hidden layers l = 1..L-1, each (P, D_l) bool."""
    return [Z > 0 for Z in hidden_preactivations(theta, sizes, X)]


def pattern_change(pa: list[np.ndarray], pb: list[np.ndarray]):
    """(global fraction, per-layer fractions, per-layer differing counts)."""
    counts = [int(np.count_nonzero(a != b)) for a, b in zip(pa, pb)]
    totals = [a.size for a in pa]  # P * D_l
    per_layer = [c / n for c, n in zip(counts, totals)]
    glob = sum(counts) / sum(totals)
    return glob, per_layer, counts


def _norm(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=F64)  # accumulate in double
    return float(np.sqrt(np.dot(x, x)))


def weight_update(theta_prev: np.ndarray, theta_new: np.ndarray, sizes: list[int]):
    """weight_update_abs / _rel, global and per layer (W_l and b_l together).

    The difference is of the stored values (float32 stored values are widened to double first).
    """
    a = np.asarray(theta_prev, dtype=F64)
    b = np.asarray(theta_new, dtype=F64)
    d = b - a
    g_abs = _norm(d)
    g_rel = g_abs / _norm(a)
    l_abs, l_rel = [], []
    for w0, _, b1 in layer_ranges(sizes):
        la = _norm(d[w0:b1])
        l_abs.append(la)
        l_rel.append(la / _norm(a[w0:b1]))
    return g_abs, g_rel, l_abs, l_rel


# --------------------------------------------------------------------------------------------
# Decay detection
# --------------------------------------------------------------------------------------------


def smooth(c, w: int) -> np.ndarray:
    """Trailing moving average over w recorded points: s_i = mean(c_j, max(0,i-w+1) <= j <= i)."""
    c = np.asarray(c, dtype=F64)
    if w < 1:
        raise ValueError("smoothing window must be >= 1")
    s = np.empty_like(c)
    for i in range(c.size):
        lo = max(0, i - w + 1)
        s[i] = math.fsum(c[lo:i + 1]) / (i + 1 - lo)
    return s


def early_peak(s, its, peak_window: int = 50, peak_skip: int = 0):
    """p = max(s_i : peak_skip <= it_i <= peak_window); None when no recorded point is in range."""
    s = np.asarray(s, dtype=F64)
    its = np.asarray(its)
    sel = (its >= peak_skip) & (its <= peak_window)
    if not np.any(sel):
        return None
    return float(np.max(s[sel]))


def peak_ok(p) -> bool:
    return p is not None and math.isfinite(p) and p > 0


def threshold_time(n, its, eps: float):
    """it_i for the smallest i with n_j < eps for every j >= i; None (censored) if n_last >= eps."""
    n = np.asarray(n, dtype=F64)
    i = n.size
    while i > 0 and n[i - 1] < eps:  # NaN compares False -> treated as "not below"
        i -= 1
    if i == n.size:
        return None
    return int(its[i])


def auc90(s, n, its):
    """First it_i at which cumsum(s) >= 0.9 * sum(s); None when final n >= 0.5 (not decayed).

    Also None when the total is not positive and finite (not specified by numerics.md; cannot
    happen for non-negative curves with a positive peak).
    """
    s = np.asarray(s, dtype=F64)
    n = np.asarray(n, dtype=F64)
    if not (n[-1] < 0.5):
        return None
    cs = np.cumsum(s)  # sequential left-to-right accumulation
    total = cs[-1]
    if not (math.isfinite(total) and total > 0):
        return None
    idx = int(np.argmax(cs >= 0.9 * total))
    return int(its[idx])


def analyse_curve(c, its, smoothing: int, thresholds, peak_window: int = 50, peak_skip: int = 0):
    """Recorded points before `peak_skip` are removed before smoothing (a first-step spike cannot
    leak into later averages). Only full windows count: the peak is the maximum of s_i over
    i >= smoothing - 1 (indices of the kept curve) with peak_skip <= it_i <= peak_window, and a
    threshold or area time at an index below smoothing - 1 (a partial average) is no time.
    'smoothed' is the smoothed kept curve."""
    keep = np.asarray(its) >= peak_skip
    c, its = np.asarray(c)[keep], np.asarray(its)[keep]
    s = smooth(c, smoothing)
    first_full = smoothing - 1
    p = early_peak(s[first_full:], its[first_full:], peak_window, peak_skip) if s.size > first_full else None
    if not peak_ok(p):
        return {"smoothed": s, "peak": None, "normalised": None,
                "threshold_times": [None for _ in thresholds], "auc90": None}
    n = s / p

    def full(t):
        return None if t is None or t < its[first_full] else t
    return {"smoothed": s, "peak": p, "normalised": n,
            "threshold_times": [full(threshold_time(n, its, e)) for e in thresholds],
            "auc90": full(auc90(s, n, its))}


def ratio(t_w, t_a):
    """t_w / t_a when both are numbers and t_a > 0, else None."""
    if t_w is None or t_a is None or not (t_a > 0):
        return None
    return t_w / t_a


# --------------------------------------------------------------------------------------------
# Self test
# --------------------------------------------------------------------------------------------


def min_abs_hidden_preactivation(theta, sizes, X) -> float:
    Zs = hidden_preactivations(theta, sizes, X)
    return float(min(np.min(np.abs(Z)) for Z in Zs)) if Zs else math.inf


def check_gradient(theta, sizes, X, labels, h: float = 1e-5, tol: float = 1e-6,
                   floor: float = 1e-8) -> float:
    """Asserts the analytic gradient matches central finite differences; returns the error.

    Requires every hidden pre-activation to be well away from the ReLU kink (>> h * scale), so
    that the finite difference does not straddle it.
    """
    theta = np.asarray(theta, dtype=F64)
    assert min_abs_hidden_preactivation(theta, sizes, X) > 1e-4, "too close to a ReLU kink"
    _, _, g = loss_and_grad(theta, sizes, X, labels)
    g_fd = finite_difference_grad(theta, sizes, X, labels, h)
    err = grad_rel_error(g, g_fd, floor)
    assert err < tol, f"gradient check failed: max rel error {err:.3e}"
    return err


def self_test(verbose: bool = True) -> None:
    # 1. gradients vs central finite differences, several architectures, biases non-zero
    worst = 0.0
    for arch, B, seed in (("mlp:6-5-4-3", 4, 11), ("mlp:3-7-2", 5, 12), ("mlp:4-3", 3, 13),
                          ("mlp:5-6-6-5-4", 6, 14), ("mlp:6-5-4-3", 16, 15)):
        sizes = parse_arch(arch)
        for attempt in range(100):
            rng = np.random.default_rng([seed, attempt])
            theta = he_init(sizes, rng, bias_std=0.2)
            X = rng.normal(size=(B, sizes[0]))
            y = rng.integers(0, sizes[-1], size=B)
            if min_abs_hidden_preactivation(theta, sizes, X) > 1e-3:
                break
        else:
            raise AssertionError("no kink-free draw")
        err = check_gradient(theta, sizes, X, y)
        worst = max(worst, err)
        if verbose:
            print(f"  grad check {arch:16s} B={B:2d}: max rel error {err:.2e}")
    assert worst < 1e-6

    # 2. loss stability with huge logits and loss of a uniform prediction
    Z = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    l = cross_entropy(Z, np.array([0, 2]))
    assert abs(l - 0.5 * math.log(3.0)) < 1e-12, l

    # 3. schedules, closed form
    s = Schedule("cosine", warmup=2, lr_min=0.0)
    lrs = [lr_at(t, 5, 1.0, s) for t in range(1, 6)]
    assert np.allclose(lrs, [0.5, 1.0, 1.0, 0.75, 0.25], rtol=0, atol=1e-15), lrs
    s = Schedule("step", step_size=2, gamma=0.5)
    assert [lr_at(t, 5, 1.0, s) for t in range(1, 6)] == [1.0, 1.0, 0.5, 0.5, 0.25]

    # 4. optimizer first steps, closed form
    th = np.array([1.0, -2.0])
    g = np.array([0.5, 0.25])
    o = Optimizer(OptimizerConfig("sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0), 2)
    th1, _ = o.step(th, g)  # v1 = g, d = g + 0.9 g
    assert np.allclose(th1, th - 0.1 * 1.9 * g, rtol=0, atol=1e-15)
    th2, _ = o.step(th1, g)  # v2 = 1.9 g, d = g + 0.9*1.9 g
    assert np.allclose(th2, th1 - 0.1 * (1 + 0.9 * 1.9) * g, rtol=0, atol=1e-15)
    o = Optimizer(OptimizerConfig("adam", lr=0.01), 2)
    th1, _ = o.step(th, g)  # step 1: mhat = g, vhat = g^2
    assert np.allclose(th1, th - 0.01 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)
    o = Optimizer(OptimizerConfig("adamw", lr=0.01, weight_decay=0.1), 2)
    th1, _ = o.step(th, g)
    assert np.allclose(th1, th * (1 - 0.001) - 0.01 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)

    # 5. decay detection on a tiny hand-computed example
    its = [1, 2, 3, 4, 5, 6]
    c = [1.0, 0.5, 0.04, 0.2, 0.01, 0.0]
    r = analyse_curve(c, its, smoothing=1, thresholds=[0.05, 0.3], peak_window=50)
    # n = c; last n >= 0.05 is index 3 (0.2) -> it 5; last n >= 0.3 is index 1 (0.5) -> it 3
    assert r["peak"] == 1.0 and r["threshold_times"] == [5, 3], r
    assert r["auc90"] == 4, r  # cumsum 1.0, 1.5, 1.54, 1.74 >= 0.9 * 1.75 = 1.575 at index 3
    r = analyse_curve([0.0, 1.0, 0.0], [1, 2, 3], 1, [0.5], peak_window=1)  # peak 0 -> censored
    assert r["threshold_times"] == [None] and r["auc90"] is None
    r = analyse_curve([1.0, 0.9, 0.6], [1, 2, 3], 1, [0.5])  # final n >= 0.5 -> auc90 censored
    assert r["threshold_times"] == [None] and r["auc90"] is None
    assert smooth([1.0, 2.0, 3.0, 4.0], 2).tolist() == [1.0, 1.5, 2.5, 3.5]
    assert ratio(10, 5) == 2.0 and ratio(None, 5) is None and ratio(3, 0) is None
    if verbose:
        print("  self test passed")


if __name__ == "__main__":
    self_test()
