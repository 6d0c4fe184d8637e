"""The throttle part's report: ratios to (a) and (0), the goal on valid mints, the notes,
and the table printed under the section's."""

from __future__ import annotations

from typing import Any

from bench.http.report import STARVED_BELOW

Row = dict[str, Any]
HUGE_PER_SECOND = "1000000000/second"
HUGE_PER_WINDOW = "1000000000/5 minutes"
KINDS = {
    "new-token": "new token",
    "same-token": "same token",
    "new-key-address": "new key+address",
    "valid": "valid mints",
}


def add_ratios(rows: list[Row]) -> None:
    """Each failure row against (a) and (0) of the same kind ((d): of ``new token``); the
    valid mints with the defaults against (b)'s limits."""

    def find(config: str, kind: str) -> Row | None:
        return next((r for r in rows if r["config"] == config and r["kind"] == kind), None)

    for row in rows:
        refs = {"a": find("a", row["kind"]), "0": find("0", row["kind"])}
        if row["kind"] == "valid":
            refs = {"b": find("b", "valid")}
        row["vs"], row["cpu_vs"] = {}, {}
        for name, ref in refs.items():
            if ref is None or ref.get("invalid") or not ref["ops_per_s"]:
                continue
            row["vs"][name] = round(row["ops_per_s"] / ref["ops_per_s"], 3)
            if row["cpu_us"] and ref["cpu_us"]:
                row["cpu_vs"][name] = round(row["cpu_us"] / ref["cpu_us"], 3)


def valid_goal(part: dict[str, Any]) -> dict[str, Any] | None:
    """Valid mints with the throttle at its defaults against limits that never count: a
    goal of the section (successful requests are never counted, so about 1.0)."""
    rows = [r for r in part["rows"] if r["kind"] == "valid"]
    defaults = next((r for r in rows if r["config"] == "defaults"), None)
    if defaults is None:
        return None
    value = None if defaults.get("invalid") else defaults["vs"].get("b")
    return {
        "goal": f"valid mint_seed, throttle at its defaults / limits {HUGE_PER_WINDOW}",
        "value": value,
        "bound": ">= 0.9",
        "met": value is not None and value >= 0.9,
        "note": f"per server CPU-second: {defaults['cpu_vs'].get('b', '-')}; "
        "successful mints are never counted, and none may be refused",
    }


def notes_on(rows: list[Row]) -> list[str]:
    notes = []
    invalid = [f"{r['label']} {KINDS[r['kind']]}: {r['invalid']}" for r in rows if r.get("invalid")]
    if invalid:
        notes.append("WARNING: unexpected answers: " + "; ".join(invalid))
    starved = [r for r in rows if not r["redis"] and r["server_cpu"] < STARVED_BELOW]
    if starved:
        notes.append(
            f"WARNING: {len(starved)} runs got under {STARVED_BELOW:.0%} of a CPU for the "
            "server (marked *): other processes had it; their req/s understate, their µs CPU "
            "per request less so."
        )
    redis_rows = [r for r in rows if r.get("redis_keys") is not None]
    if redis_rows and not all(r["redis_keys"] for r in redis_rows):
        notes.append("WARNING: a Redis run left no counter in Redis: it counted in memory.")
    return notes


def lines(part: dict[str, Any]) -> list[str]:
    """The part's table and its notes, under the section's table."""
    from bench.cli import render_table

    headers = [
        "throttle",
        "what fails",
        "answers",
        "req/s",
        "/(a)",
        "/(0)",
        "µs CPU/req",
        "/(a)",
        "/(0)",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        "cpu srv/wrk/other",
    ]
    out = []
    for r in part["rows"]:
        vs, cpu_vs = r["vs"], r["cpu_vs"]
        answers = ",".join(f"{n:,} x {s}" for s, n in sorted(r.get("statuses", {}).items()))
        rss = sum(m.get("rss_kib", 0) for m in r.get("memory", [])) / 1024
        redis_us, trips = r.get("redis_cpu_us"), r.get("redis_scripts_per_request")
        cpu = "-" if r["cpu_us"] is None else f"{r['cpu_us']:.0f}"
        out.append(
            [
                r["label"],
                KINDS[r["kind"]]
                + (" INVALID" if r.get("invalid") else "")
                + (" *" if not r["redis"] and r["server_cpu"] < STARVED_BELOW else ""),
                answers or f"{r['requests']:,} x 200",
                f"{r['ops_per_s']:,.0f}",
                _ratio(vs.get("a") or vs.get("b")),
                _ratio(vs.get("0")),
                cpu + ("" if redis_us is None else f" +{redis_us:.0f} redis, {trips:g} rt"),
                _ratio(cpu_vs.get("a") or cpu_vs.get("b")),
                _ratio(cpu_vs.get("0")),
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{rss:.0f}",
                f"{r['server_cpu']:.2f}/{r['wrk_cpu']:.2f}/{r['other_cpu']:.2f}",
            ]
        )
    return [
        "-- throttle (issue 13): failed credential checks, one worker, SQLite, each row a "
        "fresh server --",
        render_table(headers, out),
        *(f"throttle: {note}" for note in part["notes"]),
        "throttle: /(a), /(0): against the same kind of failure with limits of "
        f"{HUGE_PER_SECOND} and with counting patched out; valid mints against (b)'s limits. "
        "µs CPU/req: the server's CPU time per answer (/proc); '+N redis, M rt': Redis's own "
        "CPU time per answer, and the Lua scripts (round trips) it ran per answer.",
        f"throttle: {part['duration_s']} s",
    ]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
