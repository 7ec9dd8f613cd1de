"""What every figure shares: rows of the table, interleaved timing, peak memory of a child process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


def quick() -> bool:
    """BENCH_QUICK=1: small inputs and few repetitions, to check that the scripts still run."""
    return os.environ.get("BENCH_QUICK", "").strip() not in ("", "0", "false", "no")


@dataclass
class Row:
    """One line of the table: a measurement, what it is compared with, their ratio and the goal."""

    figure: str
    what: str
    ours: float | None
    reference: float | None = None
    unit: str = "ms"
    ratio: float | None = None
    goal: str = ""
    holds: bool | None = None
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def median_times(subjects: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each callable, calls interleaved so that noise hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(repeats):
        for name, call in subjects.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run_child(module: str, *args: str, env: dict | None = None, timeout: float = 1800) -> dict:
    """Run ``python -m module args`` and return the JSON object it prints on its last line."""
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_bytes(pid: int | str = "self") -> int:
    """A process's peak resident set (VmHWM).

    Not ``ru_maxrss``: Linux carries it across fork and exec, so a child
    started by a big parent reports the parent's peak.
    """
    return _proc_status_bytes(pid, "VmHWM:")


def current_rss_bytes(pid: int | str = "self") -> int:
    """A process's resident set now (VmRSS)."""
    return _proc_status_bytes(pid, "VmRSS:")


def _proc_status_bytes(pid, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MiB":
        return f"{value / MIB:.0f} MiB"
    if unit == "MiB/s":
        return f"{value / MIB:.0f} MiB/s"
    if unit == "/s":
        return f"{value:.1f}/s"
    return f"{value:g} {unit}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (it reads as well in a terminal as in docs/performance.md)."""
    header = ["figure", "measurement", "neurodrop", "floor / reference", "ratio", "goal", "holds", "note"]
    lines = [header]
    for row in rows:
        holds = {True: "yes", False: "NO", None: "-"}[row.holds]
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append([row.figure, row.what, fmt(row.ours, row.unit), fmt(row.reference, row.unit), ratio,
                      row.goal, holds, row.note])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def figure_main(description: str, run: Callable[[], list], child: Callable[[str, str], dict], argv=None) -> None:
    """A figure's command line: its table, or with ``--child KIND PATH`` one measurement as JSON (``run_child``)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"))
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print(table(run()))
