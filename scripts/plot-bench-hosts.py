#!/usr/bin/env python3
"""The host fan-out's curves from scripts/bench-hosts.sh results: server CPU per change,
per concerned host, and p99 delivery latency against the number of hosts.

    plot-bench-hosts.py OUT.png LABEL=RESULTS_DIR [LABEL=RESULTS_DIR ...]

Each RESULTS_DIR is one run of bench-hosts.sh (its hosts-N.json files); one line per label
and concurrency. Needs matplotlib (e.g. in a venv: python3 -m venv v && v/bin/pip install
matplotlib)."""

import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(directory):
    """Every round of every hosts-N.json in `directory`."""
    out = []
    for path in glob.glob(os.path.join(directory, "hosts-*.json")):
        with open(path) as f:
            out.extend(json.load(f)["hosts"]["rows"])
    return out


def per_concerned(row):
    net = row["srv_cpu_ms_per_change_net"]
    return net / max(row["concerned_per_change"], 1.0)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    panels = [
        ("server CPU per change (ms, net of idle)", lambda r: r["srv_cpu_ms_per_change_net"]),
        ("server CPU per concerned host (ms)", per_concerned),
        ("p99 create -> every concerned host (ms)", lambda r: r["p99_ms"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.5))
    for ax, (title, value) in zip(axes, panels):
        for label, directory in runs:
            data = rows(directory)
            for conc in sorted({r["concurrency"] for r in data}):
                pts = sorted((r["hosts"], value(r)) for r in data if r["concurrency"] == conc)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{label}, conc {conc}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("simulated hosts")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
