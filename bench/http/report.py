"""The report of the HTTP tier: the ratios to the baselines, the rows' table, the lines under
it (in-process rates, memory, goals, load) and the notes on how far the figures can be
trusted."""

from __future__ import annotations

from typing import Any

from bench.http.processes import Pinning
from bench.http.settings import Settings

Row = dict[str, Any]

# At full load one worker should keep its CPU busy; below this share it did not get the CPU
# (other processes had it), unless it waits on a database server (PostgreSQL).
STARVED_BELOW = 0.85
# A run in which everything else on the machine used more CPU than this shared it.
DISTURBED_ABOVE = 0.3
# Baseline (b) at the end against the start: beyond this the machine's load changed.
DRIFT_WARNING = 0.10


def add_ratios(rows: list[Row]) -> None:
    """Each idmint row's ops/s over the baselines' (same run, same workers when there is one):
    ``vs``, and ``vs_per_server_cpu`` on the basis of the CPU-seconds the servers got."""
    base: dict[tuple[str, str, int], dict[str, Any]] = {}
    for row in rows:
        if row["kind"] == "baseline" and not row.get("invalid"):
            base.setdefault((row["baseline"], row["scenario"], row["workers"]), row)

    def ref(name: str, scenario: str, workers: int) -> dict[str, Any] | None:
        return base.get((name, scenario, workers)) or base.get((name, scenario, 1))

    for row in rows:
        if row["kind"] != "idmint":
            continue
        scenario, workers, ops = row["scenario"], row["workers"], row["ops_per_s"]
        mint_shape = scenario if scenario in ("mint_seed", "mint_outseta") else "mint_seed"
        refs = {
            "a": ref("a", "mint_seed", workers),
            "b": ref("b", mint_shape, workers),
            "c": ref("c", mint_shape, workers),
            "b'": ref("b'", "identify", workers),
        }
        row["vs"] = {k: round(ops / v["ops_per_s"], 3) for k, v in refs.items() if v}
        per_cpu = row.get("ops_per_server_cpu_s")
        row["vs_per_server_cpu"] = {
            k: round(per_cpu / v["ops_per_server_cpu_s"], 3)
            for k, v in refs.items()
            if v and per_cpu and v.get("ops_per_server_cpu_s")
        }


def flag_starved(rows: list[Row]) -> list[Row]:
    """Mark (``starved``) and return the full-load one-worker runs whose server lacked CPU."""
    starved = [
        r
        for r in rows
        if r["workers"] == 1
        and not r.get("paced")
        and r.get("backend") != "postgresql"
        and r["server_cpu"] < STARVED_BELOW
    ]
    for r in starved:
        r["starved"] = True
    return starved


def run_notes(
    rows: list[Row], settings: Settings, drift: float | None, one: Pinning, two: Pinning
) -> list[str]:
    """Warnings about the run (marking the starved rows), then how to read the figures."""
    notes = []
    if drift is not None and abs(drift) > DRIFT_WARNING:
        notes.append(
            f"WARNING: baseline (b) moved by {drift:+.0%} between the start and the end "
            "of the run: the machine's load changed; ratios are unreliable."
        )
    starved = flag_starved(rows)
    if starved:
        notes.append(
            f"WARNING: {len(starved)} full-load runs on one worker got under "
            f"{STARVED_BELOW:.0%} of their CPU (marked *): other processes had it; those "
            "figures, and ratios built on them, understate."
        )
    invalid = [f"{r['label']} {r['scenario']}" for r in rows if r.get("invalid")]
    if invalid:
        notes.append(f"WARNING: errors during {', '.join(invalid)}; those figures are invalid.")
    disturbed = [
        r
        for r in rows
        if r.get("other_cpu", 0) > DISTURBED_ABOVE and r.get("backend") != "postgresql"
    ]
    if disturbed:
        worst = max(r["other_cpu"] for r in disturbed)
        notes.append(
            f"{len(disturbed)} runs shared the machine with other work (cpu 'other' > "
            f"{DISTURBED_ABOVE}, up to {worst:.2f} CPU): their figures are noisy."
        )
    return [
        *notes,
        "ratios: idmint ops/s over the baseline's, same run; (b) and (c) of the same mint shape;"
        " (b') for every row (the verify ceiling).",
        "idmint serve runs without uvicorn's access log unless IDMINT_ACCESS_LOG=true; the "
        "'uvicorn --no-access-log' rows run the same app through uvicorn directly.",
        f"pinning, 1 worker: {one.describe()}; 2 workers: {two.describe()}.",
        f"p99 at half peak: {settings.connections} connections with random think time (closed "
        "loop) calibrated to about half the peak rate; wrk's latency excludes the think time "
        "and is not corrected for coordinated omission.",
        "cpu srv/wrk/other: CPUs' worth used during the run by the server's processes, by wrk, "
        "and by everything else (other processes, steal; for PostgreSQL rows this includes "
        "the PostgreSQL server's own work).",
    ]


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(section: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "server",
        "store",
        "w",
        "users",
        "scenario",
        "req/s",
        "p50 ms",
        "p99 ms",
        "/a",
        "/b",
        "/c",
        "/b'",
        "cpu srv/wrk/other",
    ]
    out = []
    for r in section["rows"]:
        vs = r.get("vs", {})
        scenario = r["scenario"] + (
            f" @{r['fraction_of_peak']:.0%}" if r.get("fraction_of_peak") is not None else ""
        )
        if r.get("invalid"):
            scenario += " INVALID"
        if r.get("starved"):
            scenario += " *"
        out.append(
            [
                r["label"],
                r.get("backend") or "-",
                str(r["workers"]),
                "-" if r.get("users") is None else f"{r['users']:,}",
                scenario,
                f"{r['ops_per_s']:,.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                _fmt_ratio(vs.get("a")),
                _fmt_ratio(vs.get("b")),
                _fmt_ratio(vs.get("c")),
                _fmt_ratio(vs.get("b'")),
                f"{r['server_cpu']:.2f}/{r['wrk_cpu']:.2f}/{r['other_cpu']:.2f}",
            ]
        )
    return headers, out


def lines(section: dict[str, Any]) -> list[str]:
    if section.get("skipped"):
        return []
    out = []
    for backend, figures in section["in_process_ops_per_s"].items():
        text = ", ".join(f"{name} {value:,.0f}/s" for name, value in figures.items())
        out.append(f"in-process ({backend}, one thread): {text}")
    for backend, memory in section["memory"].items():
        parts = []
        for when in ("after_runs", "two_workers"):
            if when in memory:
                per = ", ".join(
                    f"{m.get('rss_kib', 0) / 1024:.0f} MiB (peak {m.get('hwm_kib', 0) / 1024:.0f})"
                    for m in memory[when]
                )
                parts.append(f"{when.replace('_', ' ')}: {per}")
        if "soak" in memory:
            soak_result = memory["soak"]
            last = soak_result["samples"][-1]["memory"]
            per = ", ".join(f"{m.get('rss_kib', 0) / 1024:.0f} MiB" for m in last)
            parts.append(
                f"after a soak of {soak_result['mints']:,} mints: {per} "
                f"(ratio to after the first chunk {soak_result['rss_ratio']})"
            )
        out.append(f"RSS per worker ({backend}): " + "; ".join(parts))
    if section.get("throttle"):
        from bench.http.throttle import lines as throttle_lines

        out += throttle_lines(section["throttle"])
    for goal in section["goals"]:
        value = goal["value"]
        shown = "-" if value is None else f"{value:g}"
        note = f" ({goal['note']})" if goal.get("note") else ""
        out.append(
            f"goal {goal['goal']}: {shown} {goal['bound']}: "
            f"{'met' if goal['met'] else 'MISSED'}{note}"
        )
    out.append(
        f"load average {section['loadavg_start']} -> {section['loadavg_end']}; "
        f"baseline (b) drift over the run: "
        f"{'-' if section['baseline_drift'] is None else format(section['baseline_drift'], '+.1%')}; "
        f"{section['duration_s']} s"
    )
    return out
