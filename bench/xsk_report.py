"""Summarise bench/run_xsk.sh runs: medians, ratios, a table, JSON and a bar chart.

Input: the JSON-lines file the script writes, one object per run:
{"scenario", "mode", "impl", "rep", "primary": {...peer JSON...} | null,
 "secondary": {...} | null, "generator": {...} | null}
The table and JSON need only the standard library; --png needs matplotlib.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

METRIC = {
    "rxdrop": "received by the receiver",
    "txonly": "arrived at the peer veth (XDP counter)",
    "l2fwd": "came back to the generator veth (XDP counter)",
    "gen": "arrived at an XDP_DROP counter on the DUT veth",
}
SECONDARY = {"txonly": "sender's own count", "l2fwd": "forwarder's own count"}
# Scenario-specific metrics (the two-port forwarder counts where frames leave).
SCENARIO_METRIC = {
    ("twoport", "l2fwd"): "crossed to the second port, counted at its generator-side veth",
    ("twoport-port", "l2fwd"): "through two xdpkt Ports (GRO+GSO on) to the second port, counted there",
}
ORDER = ["libxdp", "afpacket", "xdpkt", "python", "xdp_gen"]


def mpps(obj: Any) -> float | None:
    if isinstance(obj, dict) and isinstance(obj.get("mpps"), (int, float)):
        return float(obj["mpps"])
    return None


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["mode"], r["impl"]), []).append(r)
    out: list[dict[str, Any]] = []
    for (scen, mode, impl), rs in groups.items():
        prim = [v for v in (mpps(r["primary"]) for r in rs) if v is not None]
        sec = [v for v in (mpps(r["secondary"]) for r in rs) if v is not None]
        gen = [v for v in (mpps(r["generator"]) for r in rs) if v is not None]
        out.append(
            {
                "scenario": scen,
                "mode": mode,
                "impl": impl,
                "runs": len(rs),
                "ok": len(prim),
                "mpps": median(prim),
                "mpps_all": prim,
                "secondary_mpps": median(sec),
                "generator_mpps": median(gen),
                "metric": SCENARIO_METRIC.get((scen, mode), METRIC.get(mode, "")),
            }
        )
    # Paired ratios: each rep runs the implementations back to back, so the ratio of
    # the same rep cancels slow drift of the shared machine; their median is steadier
    # than the ratio of the medians when single runs swing by 2x.
    per_rep: dict[tuple[str, str, int], dict[str, float]] = {}
    for r in rows:
        v = mpps(r["primary"])
        if v is not None:
            per_rep.setdefault((r["scenario"], r["mode"], int(r.get("rep", 1))), {})[r["impl"]] = v
    # ratios within each (scenario, mode)
    for s in out:
        for ref in ("libxdp", "afpacket"):
            pairs = [
                v[s["impl"]] / v[ref]
                for (scen, mode, _), v in sorted(per_rep.items())
                if scen == s["scenario"] and mode == s["mode"] and s["impl"] in v and v.get(ref)
            ]
            s[f"paired_vs_{ref}"] = median(pairs) if s["impl"] != ref else None
            s[f"paired_vs_{ref}_all"] = pairs if s["impl"] != ref else []
        peers = {
            o["impl"]: o["mpps"] for o in out if o["scenario"] == s["scenario"] and o["mode"] == s["mode"]
        }
        for ref in ("libxdp", "afpacket"):
            base = peers.get(ref)
            s[f"vs_{ref}"] = s["mpps"] / base if s["mpps"] is not None and base else None
        if s["impl"] == "python":
            base = peers.get("xdpkt")
            s["vs_xdpkt"] = s["mpps"] / base if s["mpps"] is not None and base else None
    key = {name: i for i, name in enumerate(ORDER)}
    out.sort(key=lambda s: (s["scenario"] != "generator", s["scenario"], s["mode"], key.get(s["impl"], 99)))
    return out


def fmt(v: float | None, spec: str = "{:.3f}") -> str:
    return "-" if v is None else spec.format(v)


def table(summary: list[dict[str, Any]]) -> str:
    lines = [
        f"{'scenario':<13}{'mode':<8}{'impl':<10}{'Mpps':>8}{'vs libxdp':>11}{'vs AF_PKT':>11}"
        f"{'paired':>8}{'other':>9}{'gen':>8}  runs  metric",
    ]
    for s in summary:
        ratio_note = ""
        if s["impl"] == "python" and s.get("vs_xdpkt") is not None:
            ratio_note = f"  ({s['vs_xdpkt']:.2f}x xdpkt rxdrop)"
        lines.append(
            f"{s['scenario']:<13}{s['mode']:<8}{s['impl']:<10}{fmt(s['mpps']):>8}"
            f"{fmt(s['vs_libxdp'], '{:.2f}x'):>11}{fmt(s['vs_afpacket'], '{:.2f}x'):>11}"
            f"{fmt(s.get('paired_vs_libxdp'), '{:.2f}x'):>8}"
            f"{fmt(s['secondary_mpps']):>9}{fmt(s['generator_mpps']):>8}  {s['ok']}/{s['runs']}   "
            f"{s['metric']}{ratio_note}"
        )
    lines.append(
        "paired = median over reps of (this run / the libxdp run of the same rep); other = "
        + "; ".join(f"{m}: {d}" for m, d in SECONDARY.items())
        + "; gen = generator rate"
    )
    return "\n".join(lines)


def plot(summary: list[dict[str, Any]], path: str, meta: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pinned = [s for s in summary if s["scenario"] == "pinned" and s["mpps"] is not None]
    modes = [m for m in ("rxdrop", "txonly", "l2fwd") if any(s["mode"] == m for s in pinned)]
    impls = [i for i in ORDER if any(s["impl"] == i for s in pinned)]
    if not modes:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(impls), 1)
    for k, impl in enumerate(impls):
        xs, ys = [], []
        for j, m in enumerate(modes):
            v = next((s["mpps"] for s in pinned if s["mode"] == m and s["impl"] == impl), None)
            if v is not None:
                xs.append(j + (k - (len(impls) - 1) / 2) * width)
                ys.append(v)
        bars = ax.bar(xs, ys, width, label=impl)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(modes)), modes)
    ax.set_ylabel("Mpps (median)")
    ax.set_title(
        "AF_XDP datapath on veth, copy mode, generator and receiver on separate CPUs\n" + meta, fontsize=9
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("raw")
    ap.add_argument("--out", help="write the summary JSON here")
    ap.add_argument("--png", help="write a bar chart here (needs matplotlib)")
    ap.add_argument("--meta", default="", help="free text stored with the JSON")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    with open(a.raw, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    summary = summarise(rows)
    if not a.quiet:
        print(table(summary))
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump({"meta": a.meta, "summary": summary, "runs": rows}, f, indent=1)
            f.write("\n")
        if not a.quiet:
            print(f"results: {a.out}")
    if a.png:
        plot(summary, a.png, a.meta)
        if not a.quiet:
            print(f"chart: {a.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
