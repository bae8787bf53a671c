#!/usr/bin/env python3
"""Mean and standard deviation over seeds of `serc robust` results (robust.json files), as the
Markdown table of recipes/synth/edrl-mea/README.md. Standard library only.

    recipes/synth/edrl-mea/aggregate.py runs/robust-s0/robust.json runs/robust-s1/robust.json ...

Rows: condition and level; columns: per model, UA and macro-F1 as mean +- population std over the
files given (one file per seed, each holding every model).
"""
import json
import statistics
import sys


def level(row):
    if row.get("snr_db") is not None:
        return f"{row['snr_db']:g} dB"
    if row.get("rt60_s") is not None:
        return f"RT60 {row['rt60_s']:g} s"
    return "-"


def main(paths):
    if not paths:
        print(__doc__)
        return 2
    runs = [json.load(open(p)) for p in paths]
    models = [m["name"] for m in runs[0]["models"]]
    table = {}  # (condition, level) -> model -> list of (ua, f1)
    order = []
    for r in runs:
        for m in r["models"]:
            for row in m["rows"]:
                key = (row["condition"], level(row))
                if key not in table:
                    table[key] = {}
                    order.append(key)
                table[key].setdefault(m["name"], []).append((row["ua"], row["macro_f1"]))

    def fmt(v):
        if len(v) == 1:
            return f"{v[0]:.3f}"
        return f"{statistics.mean(v):.3f} ± {statistics.pstdev(v):.3f}"

    head = "| condition | level | " + " | ".join(f"{n} UA | {n} macro-F1" for n in models) + " |"
    print(head)
    print("|" + " --- |" * (2 + 2 * len(models)))
    for key in order:
        cells = []
        for n in models:
            v = table[key].get(n, [])
            cells.append(fmt([a for a, _ in v]) if v else "")
            cells.append(fmt([f for _, f in v]) if v else "")
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    print(f"\n{len(runs)} seeds: " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
