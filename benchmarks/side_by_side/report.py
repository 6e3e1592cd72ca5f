"""Medians over rounds, and the side-by-side tables."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

Runs = list[dict[str, Any]]
# Ratio columns: (heading, numerator server, denominator server).
RATIOS = (
    ("service/FastAPI", "service", "fastapi"),
    ("service/quart", "service", "quart"),
    ("limited/unlimited", "service-limited", "service"),
)


def medians(runs: Runs) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (server, workload): the median of each figure over the rounds (errors: the worst)."""
    grouped: dict[tuple[str, str], Runs] = {}
    for run in runs:
        grouped.setdefault((run["server"], run["workload"]), []).append(run["result"])
    summary = {}
    for key, results in grouped.items():
        figures: dict[str, Any] = {
            name: statistics.median(r[name] for r in results)
            for name in ("req_s", "p50_ms", "p99_ms", "cpu_ms_per_req")
        }
        figures["errors"] = max(r["non2xx"] + r["socket_errors"] for r in results)
        figures["rss_mb"] = statistics.median(max(r["rss_mb_per_worker"] or [0]) for r in results)
        figures["workers"] = max(r["workers"] for r in results)
        summary[key] = figures
    return summary


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.rjust(width) if n else cell.ljust(width)
        for n, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def _block(
    title: str,
    summary: dict[tuple[str, str], dict[str, Any]],
    servers: dict[str, str],
    workloads: tuple[str, ...],
    show: Callable[[dict[str, Any]], str],
    ratio_of: str | None,
) -> list[str]:
    ratios = [r for r in RATIOS if r[1] in servers and r[2] in servers]
    ratios = ratios if ratio_of else []
    header = ["workload", *servers.values(), *(r[0] for r in ratios)]
    rows = []
    for workload in workloads:
        cells = [workload]
        for name in servers:
            figures = summary.get((name, workload))
            cells.append(show(figures) if figures else "—")
        for _, top, bottom in ratios:
            a, b = summary.get((top, workload)), summary.get((bottom, workload))
            if ratio_of and a and b and b[ratio_of]:
                cells.append(f"{a[ratio_of] / b[ratio_of]:.2f}")
            else:
                cells.append("—")
        rows.append(cells)
    widths = [max(len(row[n]) for row in [header, *rows]) for n in range(len(header))]
    return [f"== {title}", _row(header, widths), *(_row(cells, widths) for cells in rows), ""]


def table(runs: Runs, servers: dict[str, str], workloads: tuple[str, ...]) -> str:
    summary = medians(runs)
    lines = _block(
        "req/s (higher is better)",
        summary,
        servers,
        workloads,
        lambda f: f"{f['req_s']:,.0f}",
        "req_s",
    )
    lines += _block(
        "latency p50 / p99 ms",
        summary,
        servers,
        workloads,
        lambda f: f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f}",
        None,
    )
    lines += _block(
        "CPU ms per request, whole process group (lower is better)",
        summary,
        servers,
        workloads,
        lambda f: f"{f['cpu_ms_per_req']:.2f}",
        "cpu_ms_per_req",
    )
    lines += _block(
        "resident memory per worker, MB (peak during the run) x workers",
        summary,
        servers,
        workloads,
        lambda f: f"{f['rss_mb']:.0f} x{f['workers']}",
        None,
    )
    lines += _block(
        "non-2xx responses + socket errors (must be 0)",
        summary,
        servers,
        workloads,
        lambda f: str(f["errors"]),
        None,
    )
    return "\n".join(lines)
