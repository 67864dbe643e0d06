#!/usr/bin/env python3
"""Markdown tables for docs/findings.md from the summary.json of finished sweeps.

    python3 scripts/findings/tables.py results/quick results/paper-mlp ...

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


def main(directories):
    for directory in directories:
        with open(f"{directory}/summary.json") as f:
            s = json.load(f)
        print(f"### `{s['sweep']}` ({s['ok']}/{s['trials']} trials ok)\n")
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


if __name__ == "__main__":
    main(sys.argv[1:])
