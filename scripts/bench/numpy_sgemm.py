#!/usr/bin/env python3
"""Single-thread NumPy float32 matmul throughput, the baseline for regime's `sgemm`.

Prints one JSON object on stdout: the GFLOP/s (2 n^3 / best wall time) of C = op(A) op(B) for
square n x n contiguous float32 operands, variants
    NN: a @ b      TN: a.T @ b      NT: a @ b.T
(the same operations as sgemm(transA:transB:) on row-major storage), plus which BLAS / OpenBLAS
kernel ("coretype") was active, so the numbers can say what they measured.

OPENBLAS_NUM_THREADS (and the other common thread-count variables) are forced to 1 before numpy
is imported. OpenBLAS picks its kernel at load time from the CPU, unless OPENBLAS_CORETYPE
overrides it; to compare configurations run e.g.
    python3 scripts/bench/numpy_sgemm.py --sizes 128,256,512,1024
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 scripts/bench/numpy_sgemm.py ...
    OPENBLAS_CORETYPE=Haswell python3 scripts/bench/numpy_sgemm.py ...
"""
import argparse
import ctypes
import json
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402  (must come after the thread-count variables)


def _loaded_blas_paths():
    """Paths of shared libraries in this process whose name mentions a BLAS."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                p = parts[-1]
                name = os.path.basename(p).lower()
                if ".so" in name or ".dylib" in name:
                    if ("blas" in name or "mkl" in name or "blis" in name) and p not in paths:
                        paths.append(p)
    except OSError:
        pass
    return paths


def _call_str(lib, names):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            fn.argtypes = []
            try:
                out = fn()
                return out.decode(errors="replace").strip() if out else None
            except Exception:  # pragma: no cover - defensive
                return None
    return None


def _call_int(lib, names):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_int
            fn.argtypes = []
            try:
                return int(fn())
            except Exception:  # pragma: no cover
                return None
    return None


def blas_info():
    """What BLAS is active: threadpoolctl if installed, else OpenBLAS's own entry points via
    ctypes, plus numpy's build configuration and the relevant environment variables."""
    info = {
        "numpy": np.__version__,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                                "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE")},
    }
    # Make sure the BLAS is loaded (and has picked its kernel) before asking.
    _ = np.ones((8, 8), np.float32) @ np.ones((8, 8), np.float32)
    try:
        import threadpoolctl  # type: ignore

        info["threadpoolctl"] = [
            {k: v for k, v in d.items() if k in ("internal_api", "version", "architecture",
                                                  "num_threads", "threading_layer", "filepath")}
            for d in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        info["threadpoolctl"] = None
    libs = []
    for path in _loaded_blas_paths():
        entry = {"path": path}
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            libs.append(entry)
            continue
        suffixes = ["", "64_", "_64"]
        prefixes = ["openblas_", "scipy_openblas_"]
        entry["corename"] = _call_str(lib, [p + "get_corename" + s for p in prefixes for s in suffixes])
        entry["config"] = _call_str(lib, [p + "get_config" + s for p in prefixes for s in suffixes])
        entry["num_threads"] = _call_int(lib, [p + "get_num_threads" + s for p in prefixes for s in suffixes])
        libs.append(entry)
    info["blas_libraries"] = libs
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["numpy_blas_build"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
    except TypeError:  # numpy < 1.26 has no mode=
        info["numpy_blas_build"] = None
    core = next((l.get("corename") for l in libs if l.get("corename")), None)
    if core is None and info["threadpoolctl"]:
        core = next((d.get("architecture") for d in info["threadpoolctl"] if d.get("architecture")), None)
    info["coretype"] = core
    return info


def best_seconds(fn, min_seconds, min_runs=3):
    fn()  # warm-up
    best = float("inf")
    start = time.perf_counter()
    runs = 0
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="128,256,512,1024", help="comma-separated square sizes n")
    ap.add_argument("--variants", default="NN,TN,NT", help="comma-separated subset of NN,TN,NT")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="time budget per (size, variant)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    variants = [v.strip().upper() for v in args.variants.split(",") if v.strip()]
    rng = np.random.default_rng(0)
    results = []
    for n in sizes:
        a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        c = np.empty((n, n), np.float32)
        ops = {
            "NN": lambda: np.matmul(a, b, out=c),
            "TN": lambda: np.matmul(a.T, b, out=c),
            "NT": lambda: np.matmul(a, b.T, out=c),
        }
        for v in variants:
            t = best_seconds(ops[v], args.min_seconds)
            results.append({"size": n, "variant": v, "gflops": 2.0 * n ** 3 / t / 1e9, "best_seconds": t})
    out = {"library": "numpy", "dtype": "float32", "threads": 1, "blas": blas_info(), "results": results}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
