"""Turns the runs into the report: medians per (target, mode, clients), ratios,
the issue 7 targets, Markdown, CSV and a PNG chart. Failures are shown in
every table they touch, never dropped."""

from __future__ import annotations

import csv
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from idle_clients import MemoryResult
from pgbench_run import RunResult

TARGETS = ("direct", "pgbouncer", "pgwarden")
LABEL = {"direct": "direct", "pgbouncer": "PgBouncer", "pgwarden": "pgwarden"}


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


@dataclass
class Cell:
    """Every repeat of one (target, mode, clients)."""
    target: str
    mode: str
    clients: int
    runs: list[RunResult] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[RunResult]:
        return [r for r in self.runs if r.ok]

    @property
    def status(self) -> str:
        """ok | partial (some repeats failed) | failed | expected-failure | missing."""
        if not self.runs:
            return "missing"
        ok = len(self.ok_runs)
        if ok == len(self.runs):
            return "ok"
        if ok:
            return "partial"
        if all(r.status == "expected-failure" for r in self.runs):
            return "expected-failure"
        return "failed"

    @property
    def has_numbers(self) -> bool:
        return bool(self.ok_runs)

    def median(self, attr: str) -> float | None:
        return _median([getattr(r, attr) for r in self.ok_runs])

    @property
    def errors(self) -> list[str]:
        seen: list[str] = []
        for r in self.runs:
            if not r.ok and r.error not in seen:
                seen.append(r.error)
        return seen


class Summary:
    def __init__(self, runs: list[RunResult], modes: list[str], clients: list[int],
                 targets: list[str]) -> None:
        self.runs = runs
        self.modes, self.clients, self.targets = modes, clients, targets
        self.cells: dict[tuple[str, str, int], Cell] = {
            (t, m, c): Cell(t, m, c) for m in modes for c in clients for t in targets}
        for r in runs:
            self.cells.setdefault((r.target, r.mode, r.clients),
                                  Cell(r.target, r.mode, r.clients)).runs.append(r)
        # Footnote number for every cell with a failure, in table order.
        self.notes: dict[tuple[str, str, int], int] = {}
        for m in modes:
            for c in clients:
                for t in targets:
                    if self.cells[(t, m, c)].status not in ("ok",):
                        self.notes[(t, m, c)] = len(self.notes) + 1

    def cell(self, target: str, mode: str, clients: int) -> Cell:
        return self.cells.get((target, mode, clients)) or Cell(target, mode, clients)

    def tps(self, target: str, mode: str, clients: int) -> float | None:
        return self.cell(target, mode, clients).median("tps")

    def ratio(self, num: str, den: str, mode: str, clients: int) -> tuple[float | None, str]:
        """TPS ratio num/den; for -M prepared against a PgBouncer that cannot do
        it, against PgBouncer's -M extended (the issue's yardstick)."""
        a = self.tps(num, mode, clients)
        b, note = self.tps(den, mode, clients), ""
        if (mode == "prepared" and den == "pgbouncer"
                and self.cell(den, mode, clients).status != "ok"):
            b, note = self.tps(den, "extended", clients), " (vs its extended)"
        if a is None or not b:
            return None, ""
        return a / b, note

    def incomplete(self) -> list[Cell]:
        """Cells without numbers that should have had them (everything but
        PgBouncer's -M prepared failing)."""
        return [c for c in self.cells.values()
                if not c.has_numbers and c.status != "expected-failure"]


# --------------------------------------------------------------------------
# Markdown


def _fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def _status_text(s: Summary, t: str, m: str, c: int, value: str) -> str:
    cell = s.cell(t, m, c)
    note = s.notes.get((t, m, c))
    if cell.status == "ok":
        return value
    if cell.status == "partial":
        failed = len(cell.runs) - len(cell.ok_runs)
        return f"{value} ({failed}/{len(cell.runs)} runs FAILED, F{note})"
    if cell.status == "expected-failure":
        return f"fails as expected (F{note})"
    if cell.status == "missing":
        return f"not run (F{note})"
    return f"**FAILED** (F{note})"


def _throughput_table(s: Summary) -> list[str]:
    head = ["mode", "clients", *(LABEL[t] for t in s.targets)]
    if "pgwarden" in s.targets and "pgbouncer" in s.targets:
        head.append("pgwarden / PgBouncer")
    if "pgwarden" in s.targets and "direct" in s.targets:
        head.append("pgwarden / direct")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in s.modes:
        for c in s.clients:
            row = [f"-M {m}", str(c)]
            row += [_status_text(s, t, m, c, _fmt(s.tps(t, m, c))) for t in s.targets]
            for den in ("pgbouncer", "direct"):
                if "pgwarden" in s.targets and den in s.targets:
                    r, note = s.ratio("pgwarden", den, m, c)
                    row.append(f"{_fmt(r, 2)}{note}")
            out.append("| " + " | ".join(row) + " |")
    return out


def _latency_table(s: Summary) -> list[str]:
    head = ["mode", "clients", *(LABEL[t] for t in s.targets)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in s.modes:
        for c in s.clients:
            row = [f"-M {m}", str(c)]
            for t in s.targets:
                cell = s.cell(t, m, c)
                value = f"{_fmt(cell.median('lat_mean_ms'), 3)} / {_fmt(cell.median('lat_p99_ms'), 3)}"
                row.append(_status_text(s, t, m, c, value))
            out.append("| " + " | ".join(row) + " |")
    return out


def _cpu_table(s: Summary) -> list[str]:
    proxies = [t for t in s.targets if t != "direct"]
    head = ["mode", "clients", *(LABEL[t] for t in proxies)]
    both = "pgwarden" in proxies and "pgbouncer" in proxies
    if both:
        head.append("pgwarden / PgBouncer")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in s.modes:
        for c in s.clients:
            row = [f"-M {m}", str(c)]
            for t in proxies:
                cell = s.cell(t, m, c)
                value = (f"{_fmt(cell.median('cpu_s_per_1k'), 4)}"
                         f" ({_fmt(cell.median('cpu_pct'))} %)")
                row.append(_status_text(s, t, m, c, value))
            if both:
                a = s.cell("pgwarden", m, c).median("cpu_s_per_1k")
                b = s.cell("pgbouncer", m, c).median("cpu_s_per_1k")
                row.append(_fmt(a / b if a is not None and b else None, 2))
            out.append("| " + " | ".join(row) + " |")
    return out


def _memory_table(mem: list[MemoryResult]) -> list[str]:
    levels = sorted({r.clients for r in mem})
    by = {(r.target, r.clients): r for r in mem}
    out = ["| idle clients | PgBouncer kB/client | pgwarden kB/client | pgwarden / PgBouncer"
           " | PgBouncer RSS before → after | pgwarden RSS before → after |",
           "|---|---|---|---|---|---|"]

    def per_client(r: MemoryResult | None) -> str:
        if r is None:
            return "not run"
        if r.error or not r.ok:
            return (f"**FAILED** at {r.connected} of {r.clients} clients: {r.error}"
                    if r.error else f"{_fmt(r.kb_per_client, 2)} (SELECT 1 failed)")
        return _fmt(r.kb_per_client, 2)

    def rss(r: MemoryResult | None) -> str:
        if r is None or r.rss_before_kb is None:
            return "–"
        return f"{_fmt(r.rss_before_kb)} → {_fmt(r.rss_after_kb)} kB"

    for n in levels:
        b, w = by.get(("pgbouncer", n)), by.get(("pgwarden", n))
        ratio = None
        if b and w and b.ok and w.ok and b.kb_per_client:
            ratio = w.kb_per_client / b.kb_per_client
        out.append(f"| {n:,} | {per_client(b)} | {per_client(w)} | {_fmt(ratio, 2)}"
                   f" | {rss(b)} | {rss(w)} |")
    return out


def issue_targets(s: Summary | None, mem: list[MemoryResult]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) for each goal of issue 7 this run can judge."""
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("yes" if ok else "**no**")

    if s is not None and {"pgwarden", "pgbouncer"} <= set(s.targets):
        for m in ("simple", "extended"):
            for c in (50, 200):
                r, _ = s.ratio("pgwarden", "pgbouncer", m, c)
                out.append((f"-M {m}, {c} clients: TPS ≥ 1.3× PgBouncer",
                            f"{_fmt(r, 2)}×" if r else "not measured", verdict(r and r >= 1.3)))
        ratios = []
        for m in ("simple", "extended"):
            for c in s.clients:
                a = s.cell("pgwarden", m, c).median("cpu_s_per_1k")
                b = s.cell("pgbouncer", m, c).median("cpu_s_per_1k")
                if a is not None and b and c >= 10:
                    ratios.append((a / b, f"-M {m} {c}"))
        worst = max(ratios) if ratios else None
        out.append(("proxy CPU per transaction ≤ 0.7× PgBouncer (worst of -M simple/extended,"
                    " ≥ 10 clients)", f"{worst[0]:.2f}× ({worst[1]})" if worst else "not measured",
                    verdict(worst[0] <= 0.7 if worst else None)))
        a = s.tps("pgwarden", "prepared", 50)
        b = s.tps("pgbouncer", "extended", 50)
        r = a / b if a is not None and b else None
        out.append(("-M prepared, 50 clients: TPS ≥ 1.3× PgBouncer's -M extended",
                    f"{r:.2f}×" if r else "not measured", verdict(r >= 1.3 if r else None)))
        if "direct" in s.targets:
            for m in ("simple",):
                d = s.cell("direct", m, 1).median("lat_mean_ms")
                b = s.cell("pgbouncer", m, 1).median("lat_mean_ms")
                w = s.cell("pgwarden", m, 1).median("lat_mean_ms")
                if None in (d, b, w):
                    out.append((f"1 client, -M {m}: latency added ≤ PgBouncer's", "not measured", "–"))
                else:
                    out.append((f"1 client, -M {m}: latency added ≤ PgBouncer's",
                                f"pgwarden +{(w - d) * 1000:.0f} µs, PgBouncer +{(b - d) * 1000:.0f} µs",
                                verdict(w - d <= b - d)))
    by = {(r.target, r.clients): r for r in mem}
    b, w = by.get(("pgbouncer", 10000)), by.get(("pgwarden", 10000))
    if b and w and b.ok and w.ok and b.kb_per_client:
        r = w.kb_per_client / b.kb_per_client
        out.append(("10,000 idle clients: RSS per client ≤ 1.25× PgBouncer's",
                    f"{r:.2f}× ({w.kb_per_client:.2f} vs {b.kb_per_client:.2f} kB)",
                    verdict(r <= 1.25)))
    else:
        out.append(("10,000 idle clients: RSS per client ≤ 1.25× PgBouncer's",
                    "not measured" if not (b and w) else "a proxy failed (see the memory table)",
                    "–"))
    return out


def markdown(title: str, params: dict[str, str], machine: dict[str, str],
             s: Summary | None, mem: list[MemoryResult], chart: str | None) -> str:
    out = [f"# {title}", ""]
    out += [f"- {k}: {v}" for k, v in params.items()]
    out += ["", "## Machine", ""] + [f"- {k}: {v}" for k, v in machine.items()]
    out += ["", "Absolute numbers drift by ±30 % between runs on these machines; only the"
            " ratios, measured in this run with the targets interleaved, mean anything.", ""]
    if s is not None:
        out += ["## Throughput (pgbench -S, median TPS over the repeats)", ""]
        out += _throughput_table(s)
        out += ["", "## Latency (ms, mean / p99 from pgbench -l, median over the repeats)", ""]
        out += _latency_table(s)
        out += ["", "## Proxy CPU (seconds per 1,000 transactions, and % of one core)", ""]
        out += _cpu_table(s)
        if chart:
            out += ["", f"![TPS by client count]({chart})"]
        out.append("")
    if mem:
        out += ["## Idle clients (RSS after minus before, per client)", ""]
        out += _memory_table(mem)
        out.append("")
    goals = issue_targets(s, mem)
    if goals:
        out += ["## Issue 7 targets in this run", "", "| target | measured | met |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in goals]
        out.append("")
    if s is not None and s.notes:
        out += ["## Failures", ""]
        for (t, m, c), n in s.notes.items():
            cell = s.cell(t, m, c)
            errs = "; ".join(f"`{e}`" for e in cell.errors) or "no run"
            out.append(f"- F{n}: {LABEL[t]}, -M {m}, {c} clients, {cell.status}"
                       f" ({len(cell.runs) - len(cell.ok_runs)} of {len(cell.runs)} runs): {errs}")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------
# CSV and chart


def write_runs_csv(path: Path, runs: list[RunResult]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        keys = list(asdict(runs[0]).keys()) + ["cpu_s_per_1k", "cpu_pct"] if runs else []
        w.writerow(keys)
        for r in runs:
            w.writerow(list(asdict(r).values()) + [r.cpu_s_per_1k, r.cpu_pct])


def write_summary_csv(path: Path, s: Summary) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "clients", "target", "status", "runs_ok", "runs", "tps_median",
                    "lat_mean_ms", "lat_p99_ms", "proxy_cpu_s_per_1k_tx", "proxy_cpu_pct",
                    "tps_ratio_vs_pgbouncer", "tps_ratio_vs_direct", "errors"])
        for m in s.modes:
            for c in s.clients:
                for t in s.targets:
                    cell = s.cell(t, m, c)
                    ratios = [s.ratio(t, den, m, c)[0] if t == "pgwarden" else None
                              for den in ("pgbouncer", "direct")]
                    w.writerow([m, c, t, cell.status, len(cell.ok_runs), len(cell.runs),
                                cell.median("tps"), cell.median("lat_mean_ms"),
                                cell.median("lat_p99_ms"), cell.median("cpu_s_per_1k"),
                                cell.median("cpu_pct"), *ratios, " | ".join(cell.errors)])


def write_memory_csv(path: Path, mem: list[MemoryResult]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "clients", "connected", "rss_before_kb", "rss_after_kb",
                    "kb_per_client", "query_ok", "error"])
        for r in mem:
            w.writerow([r.target, r.clients, r.connected, r.rss_before_kb, r.rss_after_kb,
                        r.kb_per_client, r.query_ok, r.error])


def write_chart(path: Path, s: Summary, subtitle: str) -> None:
    """One panel per -M mode: median TPS by client count, a line per target."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(s.modes), figsize=(5 * len(s.modes), 4.2), squeeze=False,
                             sharey=True)
    xs = list(range(len(s.clients)))
    colors = {"direct": "tab:gray", "pgbouncer": "tab:blue", "pgwarden": "tab:red"}
    for ax, m in zip(axes[0], s.modes):
        notes = []
        for t in s.targets:
            pts = [(x, s.tps(t, m, c)) for x, c in zip(xs, s.clients)]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                        label=LABEL[t], color=colors.get(t))
            failed = [c for c in s.clients if not s.cell(t, m, c).has_numbers]
            if failed:
                notes.append(f"{LABEL[t]} fails at {', '.join(map(str, failed))} clients")
        ax.set_title(f"pgbench -S -M {m}")
        ax.set_xticks(xs, [str(c) for c in s.clients])
        ax.set_xlabel("clients")
        ax.grid(alpha=0.3)
        if notes:
            ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8,
                    va="bottom", color="darkred")
    axes[0][0].set_ylabel("TPS (median)")
    axes[0][0].legend()
    fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
