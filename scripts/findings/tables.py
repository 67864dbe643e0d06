#!/usr/bin/env python3
"""Markdown tables for docs/findings.md from the summary.json of finished sweeps.

    python3 scripts/findings/tables.py results/quick results/paper-mlp ...
    python3 scripts/findings/tables.py --freeze results/freeze-mlp   # only the freeze curves
    python3 scripts/findings/tables.py --verdicts results/paper-cnn  # only the verdict lines

Per group: the verdict line, then the definition table (median t_a and t_w, the median ratio with
its order-statistic interval and real coverage, the geometric mean with its t interval on the log
scale, the sign-test p-value, censoring counts and the definition's call). Numbers are read from
summary.json as regime wrote them; nothing is recomputed here.
"""
import json
import sys


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    if x == float("inf"):
        return "inf"
    return f"{x:.{digits}f}"


def interval(i, digits=2):
    if i.get("low") is None or i.get("high") is None:
        return f"(no interval: {i.get('unavailable_reason')})"
    cov = i.get("coverage")
    text = f"[{fmt(i['low'], digits)}, {fmt(i['high'], digits)}]"
    return text + (f" ({100 * cov:.1f}%)" if cov is not None else "")


def spread(s):
    if s is None:
        return "-"
    return f"{s['min']}" if s["min"] == s["max"] else f"{s['median']:.0f} ({s['min']}-{s['max']})"


def mean_ci(s, digits=4):
    if s.get("mean") is None:
        return "n/a"
    text = f"{s['mean']:.{digits}f}"
    if s.get("ci_low") is not None:
        text += f" [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"
    return text


def difference(d):
    if d is None:
        return "baseline", "-"
    m = d["mean"]
    text = f"{m['mean']:+.4f}"
    if m.get("ci_low") is not None:
        text += f" [{m['ci_low']:+.4f}, {m['ci_high']:+.4f}]"
    r = d["range"]
    rng = "-" if r.get("low") is None else f"[{r['low']:+.4f}, {r['high']:+.4f}] ({100 * r['coverage']:.2f}%)"
    return text, rng + f"; lower in {d['below']} of {d['pairs']}"


def freeze_tables(s):
    """The freeze curves of summary.json (FreezeCurve): one table per set of groups."""
    for c in s.get("freeze_curves") or []:
        print(f"**{c['label']}** (freeze point against the never-frozen group; 95% Student-t intervals; "
              f"paired by seed)\n")
        print("| freeze_at | frozen at | final val accuracy [95% t CI] | accuracy - never [95% paired t CI] | "
              "range of differences (exact coverage) | final loss [95% t CI] |")
        print("|---|---|---|---|---|---|")
        for p in c["points"]:
            diff, rng = difference(p["accuracy_vs_never"])
            frozen = spread(p["frozen_at"]) + (f"; {p['not_frozen']} never froze" if p["not_frozen"] and p["freeze_at"] != "never" else "")
            print(f"| {p['freeze_at']} | {frozen} | {mean_ci(p['final_val_accuracy'])} | {diff} | {rng} | "
                  f"{mean_ci(p['final_loss'])} |")
        if c.get("detected_unfrozen"):
            print(f"\nThe online detector fires in the never-frozen group at iteration {spread(c['detected_unfrozen'])}.")
        print()


def main(arguments):
    freeze_only = "--freeze" in arguments
    verdicts_only = "--verdicts" in arguments
    directories = [a for a in arguments if not a.startswith("--")]
    for directory in directories:
        with open(f"{directory}/summary.json") as f:
            s = json.load(f)
        print(f"### `{s['sweep']}` ({s['ok']}/{s['trials']} trials ok)\n")
        if freeze_only:
            freeze_tables(s)
            continue
        if verdicts_only:
            for g in s["groups"]:
                print(f"- **{g['label']}** (final val accuracy {fmt(g['final_val_accuracy']['mean'], 4)}): {g['verdict']['line']}")
            print()
            continue
        for g in s["groups"]:
            acc = g["final_val_accuracy"]
            print(f"**{g['label']}** — final val accuracy {fmt(acc['mean'], 4)}; verdict: **{g['verdict']['line']}**\n")
            print("| definition | t_a median | t_w median | ratio median [CI] (coverage) | geometric mean [95% t CI] | sign p | censored | call |")
            print("|---|---|---|---|---|---|---|---|")
            for d in g["definitions"]:
                r = d["ratio"]
                censored = r["tw_censored"] + r["ta_censored"] + r["both_censored"]
                call = "transient" if d["transient"] else d["call"]
                print(f"| {d['definition']} | {fmt(r['t_a']['median']['median'], 0)} | {fmt(r['t_w']['median']['median'], 0)} | "
                      f"{fmt(r['median']['median'])} {interval(r['median']['interval'])} | "
                      f"{fmt(r['geometric_mean']['geometric_mean'])} {interval(r['geometric_mean']['interval'])} | "
                      f"{r['sign_test']['p_value']:.3g} | {censored} | {call} |")
            print()
        freeze_tables(s)


if __name__ == "__main__":
    main(sys.argv[1:])
