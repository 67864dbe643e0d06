#!/usr/bin/env python3
"""Independent NumPy reference for regime's CNN and ViT architectures, and their golden files.

Implemented from docs/architectures.md (and docs/numerics.md for the loss, optimizers and
instruments, which it takes from reference.py). Every computation is float64 unless a caller
passes float32 arrays (the float32 replay below is a *diagnostic* of the tolerances a float32
engine can meet; the golden values are float64).

    python3 scripts/reference/reference_cnn_vit.py            # self test, then write 4 files
    python3 scripts/reference/reference_cnn_vit.py --check    # regenerate in memory, diff

Files (Tests/RegimeCoreTests/Golden): cnn_forward_backward.json, cnn_optimizers.json,
vit_forward_backward.json, vit_optimizers.json (schemas in scripts/reference/README.md).
Deterministic: fixed np.random.default_rng seeds and deterministic seed searches.

Contents
- arch parsing and the flat parameter layout (tensors in block order, groups, pattern layers)
- CNN: NHWC conv (same/valid padding, stride), 2x2 max-pool (first maximum on ties), flatten
  (h, w, c), fully-connected layers; exact backward
- ViT: patch embedding, positional embedding, optional class token, pre-LN blocks of multi-head
  self-attention and ReLU feed-forward (D -> 4D -> D), final LayerNorm, mean-pool or class token,
  linear head; exact backward through softmax, LayerNorm and the residual stream
- patterns (pre-activation > 0), weight updates per parameter group, optimizer trajectories
- self_test(): central finite-difference checks of both models
"""

from __future__ import annotations

import math
import os
import re
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402
from make_golden import GOLDEN_DIR, f32_exact, flat, golden_arguments, write_or_check  # noqa: E402

LN_EPS = 1e-5

# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


class Layout:
    """Named tensors of the flat parameter block in order, groups and pattern layers."""

    def __init__(self):
        self.tensors = {}  # name -> (offset, shape)
        self.order = []
        self.size = 0
        self.groups = []  # (name, start, end)
        self.patterns = []  # (name, units per example)

    def add(self, name, shape):
        n = int(np.prod(shape))
        self.tensors[name] = (self.size, tuple(shape))
        self.order.append(name)
        self.size += n

    def get(self, theta, name):
        off, shape = self.tensors[name]
        return theta[off:off + int(np.prod(shape))].reshape(shape)

    def put(self, grad, name, value):
        off, shape = self.tensors[name]
        grad[off:off + int(np.prod(shape))] = np.asarray(value).reshape(-1)


def parse_shape(text):
    c, h, w = (int(v) for v in text.split("x"))
    return c, h, w


class CNN:
    """cnn:CxHxW-<layers>-K; layers c<N>k<K>[s<S>][v], p, fc<N> (docs/architectures.md)."""

    def __init__(self, arch):
        kind, _, body = arch.partition(":")
        assert kind == "cnn"
        fields = body.split("-")
        self.arch = arch
        self.input = parse_shape(fields[0])
        self.classes = int(fields[-1])
        self.ops = []  # dicts
        L = Layout()
        c, h, w = self.input
        nconv = ndense = 0
        flat_size = None
        for f in fields[1:-1]:
            if f == "p":
                self.ops.append({"kind": "pool", "in": (h, w, c)})
                h, w = h // 2, w // 2
                continue
            m = re.fullmatch(r"c(\d+)k(\d+)(?:s(\d+))?(v?)", f)
            if m:
                oc, k = int(m.group(1)), int(m.group(2))
                s = int(m.group(3) or 1)
                pad = 0 if m.group(4) == "v" else k // 2
                nconv += 1
                name = f"conv{nconv}"
                start = L.size
                L.add(name + ".W", (oc, k, k, c))
                L.add(name + ".b", (oc,))
                L.groups.append((name, start, L.size))
                oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
                L.patterns.append((name, oh * ow * oc))
                self.ops.append({"kind": "conv", "name": name, "k": k, "s": s, "pad": pad, "in": (h, w, c),
                                 "out": (oh, ow, oc)})
                h, w, c = oh, ow, oc
                continue
            m = re.fullmatch(r"fc(\d+)", f)
            assert m, f"bad layer {f}"
            n = int(m.group(1))
            ndense += 1
            name = f"fc{ndense}"
            inputs = h * w * c if flat_size is None else flat_size
            start = L.size
            L.add(name + ".W", (n, inputs))
            L.add(name + ".b", (n,))
            L.groups.append((name, start, L.size))
            L.patterns.append((name, n))
            self.ops.append({"kind": "dense", "name": name, "relu": True})
            flat_size = n
        ndense += 1
        name = f"fc{ndense}"
        inputs = h * w * c if flat_size is None else flat_size
        start = L.size
        L.add(name + ".W", (self.classes, inputs))
        L.add(name + ".b", (self.classes,))
        L.groups.append((name, start, L.size))
        self.ops.append({"kind": "dense", "name": name, "relu": False})
        self.layout = L

    # ---- forward / backward -----------------------------------------------------------------

    def forward(self, theta, X, keep=False, gates=None):
        """X (B, C*H*W) channel-major -> logits, pre-activations of the pattern layers (B, units),
        and (if keep) the cache for backward. With `gates` (per pattern layer, (B, units), open
        where > 0) every ReLU h = relu(z) becomes h = z * gate (docs/numerics.md, "Gated training")."""
        L = self.layout
        C, H, W = self.input
        B = X.shape[0]
        x = np.asarray(X).reshape(B, C, H, W).transpose(0, 2, 3, 1)  # NHWC
        zs, cache = [], []
        for op in self.ops:
            if op["kind"] == "conv":
                Wt, b = L.get(theta, op["name"] + ".W"), L.get(theta, op["name"] + ".b")
                z = conv_forward(x, Wt, b, op["s"], op["pad"])
                zs.append(z.reshape(B, -1))
                mask = (z > 0) if gates is None else (gates[len(zs) - 1].reshape(z.shape) > 0)
                cache.append((x, z, mask))
                x = np.where(mask, z, 0.0)
            elif op["kind"] == "pool":
                out, idx = pool_forward(x)
                cache.append((x, idx))
                x = out
            else:
                Wt, b = L.get(theta, op["name"] + ".W"), L.get(theta, op["name"] + ".b")
                hin = x.reshape(B, -1)
                z = hin @ Wt.T + b
                mask = None
                if op["relu"]:
                    zs.append(z)
                    mask = (z > 0) if gates is None else (gates[len(zs) - 1] > 0)
                    x = np.where(mask, z, 0.0)
                else:
                    x = z
                cache.append((hin, z, mask))
        return (x, zs, cache) if keep else (x, zs)

    def loss_and_grad(self, theta, X, y, gates=None):
        L = self.layout
        logits, _, cache = self.forward(theta, X, keep=True, gates=gates)
        loss = ref.cross_entropy(logits, y)
        d = softmax_ce_grad(logits, y)
        grad = np.zeros_like(theta)
        for i in range(len(self.ops) - 1, -1, -1):
            op = self.ops[i]
            if op["kind"] == "dense":
                hin, z, mask = cache[i]
                Wt = L.get(theta, op["name"] + ".W")
                if op["relu"]:
                    d = d * mask
                L.put(grad, op["name"] + ".W", d.T @ hin)
                L.put(grad, op["name"] + ".b", d.sum(axis=0))
                d = d @ Wt
                if i > 0:
                    d = d.reshape((X.shape[0],) + self.shape_before(i))
            elif op["kind"] == "pool":
                x, idx = cache[i]
                d = pool_backward(d, idx, x.shape)
            else:
                x, z, mask = cache[i]
                Wt = L.get(theta, op["name"] + ".W")
                d = d.reshape(z.shape) * mask
                dx, dW, db = conv_backward(d, x, Wt, op["s"], op["pad"])
                L.put(grad, op["name"] + ".W", dW)
                L.put(grad, op["name"] + ".b", db)
                d = dx
        return loss, logits, grad

    def shape_before(self, i):
        """NHWC shape (without B) of op i's input."""
        op = self.ops[i]
        if op["kind"] in ("conv", "pool"):
            return op["in"]
        # input of a dense layer: the previous op's output
        prev = self.ops[i - 1]
        if prev["kind"] == "conv":
            return prev["out"]
        if prev["kind"] == "pool":
            h, w, c = prev["in"]
            return (h // 2, w // 2, c)
        n = self.layout.tensors[prev["name"] + ".W"][1][0]
        return (n,)

    def pool_gap(self, theta, X):
        """min over pooling windows whose maximum is > 0 of (max - second largest); inf if none."""
        _, _, cache = self.forward(theta, X, keep=True)
        gap = math.inf
        for op, c in zip(self.ops, cache):
            if op["kind"] == "pool":
                st = np.sort(pool_candidates(c[0]), axis=0)
                top, second = st[-1], st[-2]
                sel = top > 0
                if np.any(sel):
                    gap = min(gap, float(np.min((top - second)[sel])))
        return gap


def conv_forward(x, Wt, b, s, pad):
    """x (B, H, W, IC), Wt (OC, K, K, IC) -> (B, OH, OW, OC)."""
    B, H, W, _ = x.shape
    OC, K = Wt.shape[0], Wt.shape[1]
    OH, OW = (H + 2 * pad - K) // s + 1, (W + 2 * pad - K) // s + 1
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros((B, OH, OW, OC), dtype=x.dtype) + b
    for kh in range(K):
        for kw in range(K):
            win = xp[:, kh:kh + s * (OH - 1) + 1:s, kw:kw + s * (OW - 1) + 1:s, :]
            out = out + win @ Wt[:, kh, kw, :].T
    return out


def conv_backward(dz, x, Wt, s, pad):
    B, H, W, _ = x.shape
    K = Wt.shape[1]
    OH, OW = dz.shape[1], dz.shape[2]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(Wt)
    for kh in range(K):
        for kw in range(K):
            sl = (slice(None), slice(kh, kh + s * (OH - 1) + 1, s), slice(kw, kw + s * (OW - 1) + 1, s), slice(None))
            dW[:, kh, kw, :] = np.einsum("bhwo,bhwc->oc", dz, xp[sl])
            dxp[sl] += dz @ Wt[:, kh, kw, :]
    return dxp[:, pad:pad + H, pad:pad + W, :], dW, dz.sum(axis=(0, 1, 2))


def pool_candidates(x):
    """(4, B, OH, OW, C): the window entries in the order (0,0), (0,1), (1,0), (1,1)."""
    OH, OW = x.shape[1] // 2, x.shape[2] // 2
    return np.stack([x[:, dy:2 * OH:2, dx:2 * OW:2, :] for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1))])


def pool_forward(x):
    st = pool_candidates(x)
    idx = np.argmax(st, axis=0)  # first maximum on ties
    return np.take_along_axis(st, idx[None], axis=0)[0], idx


def pool_backward(dout, idx, shape):
    dx = np.zeros(shape, dtype=dout.dtype)
    OH, OW = idx.shape[1], idx.shape[2]
    for k, (dy, ddx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        dx[:, dy:2 * OH:2, ddx:2 * OW:2, :] += dout * (idx == k)
    return dx


def softmax_ce_grad(logits, y):
    B = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    P = e / e.sum(axis=1, keepdims=True)
    P[np.arange(B), np.asarray(y, dtype=np.int64)] -= 1
    return P / B


# --------------------------------------------------------------------------------------------
# ViT
# --------------------------------------------------------------------------------------------


class ViT:
    """vit:CxHxW-p<P>-d<D>-h<H>-l<L>[-cls]-K (docs/architectures.md)."""

    def __init__(self, arch):
        kind, _, body = arch.partition(":")
        assert kind == "vit"
        fields = body.split("-")
        self.arch = arch
        self.cls = "cls" in fields
        fields = [f for f in fields if f != "cls"]
        self.input = parse_shape(fields[0])
        self.P = int(fields[1][1:])
        self.D = int(fields[2][1:])
        self.H = int(fields[3][1:])
        self.depth = int(fields[4][1:])
        self.classes = int(fields[5])
        C, Hh, Ww = self.input
        self.Np = (Hh // self.P) * (Ww // self.P)
        self.T = self.Np + (1 if self.cls else 0)
        D, F, K = self.D, 4 * self.D, self.classes
        L = Layout()
        L.add("We", (D, C * self.P * self.P))
        L.add("be", (D,))
        if self.cls:
            L.add("cls", (D,))
        L.add("pos", (self.T, D))
        L.groups.append(("embed", 0, L.size))
        for l in range(1, self.depth + 1):
            s = L.size
            for n, shape in (("ln1.g", (D,)), ("ln1.b", (D,)), ("Wqkv", (3 * D, D)),
                             ("Wo", (D, D)), ("bo", (D,))):
                L.add(f"b{l}.{n}", shape)
            L.groups.append((f"block{l}.attn", s, L.size))
            s = L.size
            for n, shape in (("ln2.g", (D,)), ("ln2.b", (D,)), ("W1", (F, D)), ("b1", (F,)),
                             ("W2", (D, F)), ("b2", (D,))):
                L.add(f"b{l}.{n}", shape)
            L.groups.append((f"block{l}.ffn", s, L.size))
            L.patterns.append((f"block{l}.ffn", self.T * F))
        s = L.size
        for n, shape in (("lnf.g", (D,)), ("lnf.b", (D,)), ("Wh", (K, D)), ("bh", (K,))):
            L.add(n, shape)
        L.groups.append(("head", s, L.size))
        self.layout = L

    def patchify(self, X):
        C, H, W = self.input
        P = self.P
        B = X.shape[0]
        x = np.asarray(X).reshape(B, C, H // P, P, W // P, P)
        return x.transpose(0, 2, 4, 1, 3, 5).reshape(B, self.Np, C * P * P)

    def forward(self, theta, X, keep=False, gates=None):
        """As CNN.forward; `gates` gate the feed-forward ReLUs (per block, (B, T*4D))."""
        L, D, T = self.layout, self.D, self.T
        g = lambda n: L.get(theta, n)  # noqa: E731
        B = X.shape[0]
        patches = self.patchify(X)
        E = patches @ g("We").T + g("be")
        if self.cls:
            x = np.concatenate([np.broadcast_to(g("cls"), (B, 1, D)), E], axis=1) + g("pos")
        else:
            x = E + g("pos")
        zs, cache = [], {"patches": patches, "blocks": []}
        for l in range(1, self.depth + 1):
            p = f"b{l}."
            a, c1 = layer_norm(x, g(p + "ln1.g"), g(p + "ln1.b"))
            qkv = a @ g(p + "Wqkv").T
            o, probs = attention(qkv, self.H)
            x1 = x + o @ g(p + "Wo").T + g(p + "bo")
            bn, c2 = layer_norm(x1, g(p + "ln2.g"), g(p + "ln2.b"))
            z = bn @ g(p + "W1").T + g(p + "b1")
            mask = (z > 0) if gates is None else (gates[l - 1].reshape(z.shape) > 0)
            hid = np.where(mask, z, 0.0)
            x2 = x1 + hid @ g(p + "W2").T + g(p + "b2")
            zs.append(z.reshape(B, -1))
            cache["blocks"].append(dict(x=x, a=a, c1=c1, qkv=qkv, o=o, probs=probs, x1=x1, bn=bn, c2=c2, z=z, hid=hid,
                                        mask=mask))
            x = x2
        f, cf = layer_norm(x, g("lnf.g"), g("lnf.b"))
        pooled = f[:, 0, :] if self.cls else f.mean(axis=1)
        logits = pooled @ g("Wh").T + g("bh")
        cache.update(xL=x, cf=cf, pooled=pooled)
        return (logits, zs, cache) if keep else (logits, zs)

    def loss_and_grad(self, theta, X, y, gates=None):
        L, D, T, H = self.layout, self.D, self.T, self.H
        g = lambda n: L.get(theta, n)  # noqa: E731
        logits, _, cache = self.forward(theta, X, keep=True, gates=gates)
        loss = ref.cross_entropy(logits, y)
        B = X.shape[0]
        grad = np.zeros_like(theta)
        put = lambda n, v: L.put(grad, n, v)  # noqa: E731
        dl = softmax_ce_grad(logits, y)
        put("Wh", dl.T @ cache["pooled"])
        put("bh", dl.sum(axis=0))
        dp = dl @ g("Wh")
        if self.cls:
            df = np.zeros((B, T, D), dtype=theta.dtype)
            df[:, 0, :] = dp
        else:
            df = np.broadcast_to(dp[:, None, :] / T, (B, T, D))
        dx, dg, db = layer_norm_backward(df, g("lnf.g"), cache["cf"])
        put("lnf.g", dg)
        put("lnf.b", db)
        for l in range(self.depth, 0, -1):
            p = f"b{l}."
            c = cache["blocks"][l - 1]
            put(p + "W2", dx.reshape(-1, D).T @ c["hid"].reshape(B * T, -1))
            put(p + "b2", dx.sum(axis=(0, 1)))
            dh = (dx @ g(p + "W2")) * c["mask"]
            put(p + "W1", dh.reshape(B * T, -1).T @ c["bn"].reshape(B * T, D))
            put(p + "b1", dh.sum(axis=(0, 1)))
            dbn = dh @ g(p + "W1")
            d1, dg, db = layer_norm_backward(dbn, g(p + "ln2.g"), c["c2"])
            put(p + "ln2.g", dg)
            put(p + "ln2.b", db)
            dx = dx + d1
            put(p + "Wo", dx.reshape(-1, D).T @ c["o"].reshape(-1, D))
            put(p + "bo", dx.sum(axis=(0, 1)))
            do = dx @ g(p + "Wo")
            dqkv = attention_backward(do, c["qkv"], c["probs"], H)
            put(p + "Wqkv", dqkv.reshape(-1, 3 * D).T @ c["a"].reshape(-1, D))
            da = dqkv @ g(p + "Wqkv")
            d0, dg, db = layer_norm_backward(da, g(p + "ln1.g"), c["c1"])
            put(p + "ln1.g", dg)
            put(p + "ln1.b", db)
            dx = dx + d0
        put("pos", dx.sum(axis=0))
        if self.cls:
            put("cls", dx[:, 0, :].sum(axis=0))
            dE = dx[:, 1:, :]
        else:
            dE = dx
        put("be", dE.sum(axis=(0, 1)))
        put("We", dE.reshape(-1, D).T @ cache["patches"].reshape(B * self.Np, -1))
        return loss, logits, grad


def layer_norm(x, gamma, beta):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + x.dtype.type(LN_EPS))
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd)


def layer_norm_backward(dy, gamma, cache):
    xhat, rstd = cache
    dxhat = dy * gamma
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    axes = tuple(range(dy.ndim - 1))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def split_heads(m, H):
    B, T, D = m.shape
    return m.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)


def attention(qkv, H):
    """qkv (B, T, 3D) -> out (B, T, D), probs (B, H, T, T)."""
    B, T, D3 = qkv.shape
    D = D3 // 3
    q, k, v = (split_heads(qkv[..., i * D:(i + 1) * D], H) for i in range(3))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(qkv.dtype.type(D // H))
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    P = e / e.sum(axis=-1, keepdims=True)
    o = P @ v
    return o.transpose(0, 2, 1, 3).reshape(B, T, D), P


def attention_backward(do, qkv, P, H):
    B, T, D3 = qkv.shape
    D = D3 // 3
    scale = 1.0 / np.sqrt(qkv.dtype.type(D // H))
    q, k, v = (split_heads(qkv[..., i * D:(i + 1) * D], H) for i in range(3))
    dO = split_heads(do, H)
    dP = dO @ v.transpose(0, 1, 3, 2)
    dv = P.transpose(0, 1, 3, 2) @ dO
    dS = P * (dP - (P * dP).sum(axis=-1, keepdims=True))
    dq = dS @ k * scale
    dk = dS.transpose(0, 1, 3, 2) @ q * scale
    merge = lambda m: m.transpose(0, 2, 1, 3).reshape(B, T, D)  # noqa: E731
    return np.concatenate([merge(dq), merge(dk), merge(dv)], axis=-1)


# --------------------------------------------------------------------------------------------
# Shared: models, golden parameters, patterns, weight updates
# --------------------------------------------------------------------------------------------


def make_model(arch):
    return CNN(arch) if arch.startswith("cnn:") else ViT(arch)


def golden_params(model, rng):
    """Golden (not engine-init) parameters: He-normal matrices, N(0, 0.1^2) biases, LayerNorm gamma
    1 + N(0, 0.1^2) and beta N(0, 0.1^2), cls/pos N(0, 0.1^2). Rounded to float32."""
    L = model.layout
    theta = np.zeros(L.size)
    for name in L.order:
        off, shape = L.tensors[name]
        n = int(np.prod(shape))
        base = name.split(".")[-1]
        if len(shape) >= 2 and name != "pos":
            fan_in = int(np.prod(shape[1:]))
            v = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=n)
        elif base == "g":
            v = 1.0 + rng.normal(0.0, 0.1, size=n)
        else:
            v = rng.normal(0.0, 0.1, size=n)
        theta[off:off + n] = v
    return f32_exact(theta)


def margin(model, theta, X):
    """min |pre-activation| over the pattern layers, and (CNN) the pooling gap."""
    _, zs = model.forward(theta, X)
    m = min(float(np.min(np.abs(z))) for z in zs)
    if isinstance(model, CNN):
        m = min(m, model.pool_gap(theta, X))
    return m


def patterns(model, theta, X):
    return [z > 0 for z in model.forward(theta, X)[1]]


def weight_update(model, old, new):
    a = np.asarray(old, dtype=np.float64)
    d = np.asarray(new, dtype=np.float64) - a
    norm = lambda v: float(np.sqrt(np.dot(v, v)))  # noqa: E731
    g_abs = norm(d)
    l_abs = [norm(d[s:e]) for _, s, e in model.layout.groups]
    l_rel = [la / norm(a[s:e]) for la, (_, s, e) in zip(l_abs, model.layout.groups)]
    return g_abs, g_abs / norm(a), l_abs, l_rel


def fd_check(model, theta, X, y, h=1e-5, floor_fraction=1e-4, gates=None):
    """max_i |g_i - fd_i| / max(|g_i|, |fd_i|, floor_fraction * max|g|) over every coordinate (of
    the gated loss when `gates` are given)."""
    _, _, g = model.loss_and_grad(theta, X, y, gates=gates)
    fd = np.zeros_like(theta)
    for i in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        fd[i] = (ref.cross_entropy(model.forward(tp, X, gates=gates)[0], y)
                 - ref.cross_entropy(model.forward(tm, X, gates=gates)[0], y)) / (2 * h)
    den = np.maximum(np.maximum(np.abs(g), np.abs(fd)), floor_fraction * np.max(np.abs(g)))
    return float(np.max(np.abs(g - fd) / den))


def self_test(verbose=True):
    for arch, B, seed in (("cnn:2x7x7-c2k3-p-c3k3s2-fc4-3", 3, 1), ("cnn:1x7x7-c2k5v-c3k1s2-p-4", 2, 2),
                          ("vit:1x4x4-p2-d4-h2-l2-3", 3, 3), ("vit:2x4x4-p2-d6-h3-l1-cls-3", 2, 4)):
        model = make_model(arch)
        for attempt in range(1000):
            rng = np.random.default_rng([seed, attempt])
            theta = golden_params(model, rng)
            X = rng.normal(size=(B, int(np.prod(model.input))))
            y = rng.integers(0, model.classes, size=B)
            if margin(model, theta, X) > 1e-3:
                break
        err = fd_check(model, theta, X, y, floor_fraction=1e-6)
        if verbose:
            print(f"  grad check {arch:32s} B={B}: max rel error {err:.2e}")
        assert err < 1e-5, (arch, err)
    # pooling ties go to the first maximum; a conv with all-ones weights sums its window
    x = np.array([1.0, 3.0, 3.0, 2.0]).reshape(1, 2, 2, 1)
    out, idx = pool_forward(x)
    assert out.item() == 3.0 and idx.item() == 1
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    z = conv_forward(x, np.ones((1, 3, 3, 1)), np.zeros(1), 1, 1)
    assert z[0, 0, 0, 0] == 0 + 1 + 4 + 5 and z[0, 1, 1, 0] == sum([0, 1, 2, 4, 5, 6, 8, 9, 10])
    z = conv_forward(x, np.ones((1, 3, 3, 1)), np.zeros(1), 2, 0)
    assert z.shape == (1, 1, 1, 1) and z.item() == sum([0, 1, 2, 4, 5, 6, 8, 9, 10])
    if verbose:
        print("  self test passed")


# --------------------------------------------------------------------------------------------
# Golden files
# --------------------------------------------------------------------------------------------

MARGIN_MIN = 1e-4  # every pattern pre-activation (and CNN pooling gap) at least this far from a tie


def forward_backward_case(arch, B, seed):
    model = make_model(arch)
    for attempt in range(10000):
        rng = np.random.default_rng([seed, attempt])
        theta = golden_params(model, rng)
        X = f32_exact(rng.normal(size=(B, int(np.prod(model.input)))))
        y = rng.integers(0, model.classes, size=B)
        m = margin(model, theta, X)
        if m > 1e-3 and len(set(y.tolist())) > 1:
            break
    else:
        raise RuntimeError("no seed found")
    loss, logits, grad = model.loss_and_grad(theta, X, y)
    _, zs = model.forward(theta, X)
    return {
        "arch": arch,
        "batch_size": B,
        "seed": [seed, attempt],
        "parameter_count": model.layout.size,
        "groups": [[n, s, e] for n, s, e in model.layout.groups],
        "pattern_units": [u for _, u in model.layout.patterns],
        "min_margin": m,
        "fd_max_rel_error": fd_check(model, theta, X, y),
        "x": flat(X),
        "labels": [int(v) for v in y],
        "params": flat(theta),
        "logits": flat(logits),
        "loss": loss,
        "grad": flat(grad),
        "pattern_bits": [int(v) for z in zs for v in (z > 0).reshape(-1)],
    }


def optimizer_cases(T):
    C = ref.OptimizerConfig
    return [
        ("sgd_momentum_wd", C("sgd", lr=0.1, momentum=0.9, weight_decay=1e-3, total_iterations=T)),
        ("adam", C("adam", lr=0.01, total_iterations=T)),
        ("adamw_cosine", C("adamw", lr=0.02, weight_decay=0.1, schedule=ref.Schedule("cosine", lr_min=0.001),
                           total_iterations=T)),
    ]


def gates_of(model, theta_g, X, dtype=np.float64):
    """The gates 1[z_l(theta_g; X) > 0], per pattern layer, (B, units) (docs/numerics.md, "Gated training")."""
    return [(z > 0).astype(dtype) for z in model.forward(theta_g, X)[1]]


def gated_pool_gap(model, theta, X, gates):
    """CNN: min over the gated forward's pooling windows of (winner - largest smaller entry); a tie
    of open units (equal non-zero winners) counts as 0, a tie of closed units' exact zeros does not
    (neither depends on the parameters). inf for other models or without pools."""
    if not isinstance(model, CNN):
        return math.inf
    _, _, cache = model.forward(theta, X, keep=True, gates=gates)
    gap = math.inf
    for op, c in zip(model.ops, cache):
        if op["kind"] != "pool":
            continue
        st = np.sort(pool_candidates(c[0]), axis=0)
        top = st[-1]
        below = np.full(top.shape, np.inf)
        for k in (2, 1, 0):
            below = np.where(np.isinf(below) & (st[k] < top), top - st[k], below)
        below = np.where((st[-2] == top) & (top != 0), 0.0, below)
        gap = min(gap, float(np.min(below)))
    return gap


def run_case(model, cfg, theta0, batches, probe, dtype=np.float64, freeze_after=None):
    """Trains on `batches` in turn with the optimizer `cfg`; per step the loss, gradient, new
    parameters, weight updates and probe pattern changes. With `freeze_after` F (gated training):
    theta_g = theta_F, and steps t > F train the gated network (gates of theta_g on batch t); each
    step then also records the gate disagreement of theta_t's own probe patterns with theta_g's
    (None before F), and the result the gates used and the largest normwise difference of a gated
    step's gradient from the ReLU network's (`gating_effect`)."""
    theta = np.asarray(theta0, dtype=dtype)
    probe = np.asarray(probe, dtype=dtype)
    opt = ref.Optimizer(cfg, theta.size, dtype=dtype)
    pat0 = patterns(model, theta, probe)
    prev = pat0
    m_probe = margin(model, theta, probe)
    m_train = math.inf
    theta_g, gate_probe = None, None
    steps, gate_list, gating_effect = [], [], 0.0
    for t, (X, y) in enumerate(batches, start=1):
        X = np.asarray(X, dtype=dtype)
        gates = None
        if theta_g is None:
            m_train = min(m_train, margin(model, theta, X))
        else:
            gates = gates_of(model, theta_g, X, dtype)
            m_train = min(m_train, margin(model, theta_g, X), gated_pool_gap(model, theta, X, gates))
        gate_list.append(gates)
        loss, _, grad = model.loss_and_grad(theta, X, y, gates=gates)
        if gates is not None:
            gating_effect = max(gating_effect, _rel(model.loss_and_grad(theta, X, y)[2], grad))
        new, lr = opt.step(theta, grad)
        wa, wr, wal, wrl = weight_update(model, theta, new)
        pat = patterns(model, new, probe)
        pc, pcl, pcn = ref.pattern_change(prev, pat)
        pci, pcil, pcin = ref.pattern_change(pat0, pat)
        m_probe = min(m_probe, margin(model, new, probe))
        step = {"t": t, "lr": lr, "loss": loss, "grad": grad, "params": new,
                "weight_update_abs": wa, "weight_update_rel": wr,
                "weight_update_abs_layers": wal, "weight_update_rel_layers": wrl,
                "pattern_change": pc, "pattern_change_layers": pcl, "pattern_diff_counts": pcn,
                "pattern_change_init": pci, "pattern_change_init_layers": pcil,
                "pattern_diff_counts_init": pcin}
        if freeze_after is not None:
            if t == freeze_after:
                theta_g, gate_probe = new, pat
            gd, gdl, gdn = ref.pattern_change(gate_probe, pat) if gate_probe is not None else (None, None, None)
            step.update({"gate_disagreement": gd, "gate_disagreement_layers": gdl, "gate_disagreement_counts": gdn})
        steps.append(step)
        theta, prev = new, pat
    out = {"steps": steps, "margin_probe": m_probe, "margin_train": m_train}
    if freeze_after is not None:
        out.update({"gates": gate_list, "gating_effect": gating_effect})
    return out


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def optimizers_file(arch, B, P, steps, seed):
    model = make_model(arch)
    cases = optimizer_cases(steps)
    n_in = int(np.prod(model.input))
    for attempt in range(10000):
        rng = np.random.default_rng([seed, attempt])
        theta0 = golden_params(model, rng)
        batches = [(f32_exact(rng.normal(size=(B, n_in))), rng.integers(0, model.classes, size=B)) for _ in range(steps)]
        probe = f32_exact(rng.normal(size=(P, n_in)))
        runs = [run_case(model, cfg, theta0, batches, probe) for _, cfg in cases]
        m = min(min(r["margin_probe"], r["margin_train"]) for r in runs)
        if m <= MARGIN_MIN:
            continue
        if not all(any(s["pattern_change"] > 0 for s in r["steps"]) for r in runs):
            continue
        runs32 = [run_case(model, cfg, theta0, batches, probe, np.float32) for _, cfg in cases]
        same = all(s32["pattern_diff_counts"] == s64["pattern_diff_counts"]
                   and s32["pattern_diff_counts_init"] == s64["pattern_diff_counts_init"]
                   for r32, r64 in zip(runs32, runs) for s32, s64 in zip(r32["steps"], r64["steps"]))
        if same:
            break
    else:
        raise RuntimeError("no seed found")
    fd = 0.0
    for r in runs:
        theta = theta0
        for s, (X, y) in zip(r["steps"], batches):
            fd = max(fd, fd_check(model, theta, X, y))
            theta = s["params"]
    dev = {"params": 0.0, "grad": 0.0, "loss": 0.0}
    for r32, r64 in zip(runs32, runs):
        for s32, s64 in zip(r32["steps"], r64["steps"]):
            dev["params"] = max(dev["params"], _rel(s32["params"], s64["params"]))
            dev["grad"] = max(dev["grad"], _rel(s32["grad"], s64["grad"]))
            dev["loss"] = max(dev["loss"], abs(s32["loss"] - s64["loss"]) / abs(s64["loss"]))
    header = {"arch": arch, "batch_size": B, "num_steps": steps, "probe_size": P, "seed": [seed, attempt]}
    return trajectory_document(header, model, m, fd, theta0, batches, probe, cases, runs), dev


def trajectory_document(header, model, margin, fd, theta0, batches, probe, cases, runs):
    """The optimizer-trajectory golden document (schema of cnn_optimizers.json): `header`'s keys
    in order, then the layout, margins, inputs and one record per case (`runs` from run_case)."""
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
    return {
        **header,
        "parameter_count": model.layout.size,
        "groups": [[n, s, e] for n, s, e in model.layout.groups],
        "pattern_units": [u for _, u in model.layout.patterns],
        "min_margin": margin,
        "fd_max_rel_error": fd,
        "init_params": flat(theta0),
        "batches": [{"x": flat(X), "labels": [int(v) for v in y]} for X, y in batches],
        "probe_x": flat(probe),
        "cases": out_cases,
    }


CNN_FB = [("cnn:2x9x9-c3k3-p-c4k5s2-fc6-4", 3, 4101), ("cnn:1x8x8-c2k3v-c3k3s2v-p-5", 3, 4102)]
CNN_OPT = ("cnn:2x6x6-c3k3-p-c4k3s2-fc5-3", 4, 8, 3, 4201)
VIT_FB = [("vit:1x8x8-p4-d8-h2-l2-3", 3, 5101), ("vit:2x6x6-p3-d6-h3-l1-cls-4", 2, 5102)]
VIT_OPT = ("vit:1x6x6-p3-d4-h2-l1-3", 4, 8, 3, 5201)


def main():
    args = golden_arguments(__doc__, GOLDEN_DIR)
    print("CNN/ViT reference self test (finite-difference gradient checks)")
    self_test()
    files = {}
    for prefix, fb, opt in (("cnn", CNN_FB, CNN_OPT), ("vit", VIT_FB, VIT_OPT)):
        cases = [forward_backward_case(*c) for c in fb]
        for c in cases:
            print(f"  {c['arch']:32s} seed {c['seed']} margin {c['min_margin']:.2e} fd err {c['fd_max_rel_error']:.1e}"
                  f" params {c['parameter_count']}")
        files[f"{prefix}_forward_backward.json"] = {"cases": cases}
        doc, dev = optimizers_file(*opt)
        print(f"  {doc['arch']:32s} optimizers: seed {doc['seed']} margin {doc['min_margin']:.2e} "
              f"fd err {doc['fd_max_rel_error']:.1e}; float32 dev params {dev['params']:.1e} grad {dev['grad']:.1e} "
              f"loss {dev['loss']:.1e}")
        for c in doc["cases"]:
            print(f"    {c['name']:16s} pattern diffs/step {[s['pattern_diff_counts'] for s in c['steps']]}")
        files[f"{prefix}_optimizers.json"] = doc
    return write_or_check(files, args.out, args.check)


if __name__ == "__main__":
    sys.exit(main())
