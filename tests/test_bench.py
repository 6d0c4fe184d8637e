"""The benchmark package (``python -m bench``): its goals table, its size, its command line.

Nothing here runs wrk or a server; the goals are evaluated on synthetic rows shaped like the
ones the HTTP tier records.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bench
from bench.http.goals import Field, Goal, evaluate, goals
from bench.http.report import add_ratios
from bench.http.settings import Settings

ROOT = Path(bench.__file__).resolve().parent.parent
SETTINGS = Settings(users=100, scale_users=5_000, backends=("sqlite",))


def _baseline(name: str, scenario: str, ops: float, **fields: Any) -> dict[str, Any]:
    row = {"kind": "baseline", "baseline": name, "label": f"({name})", "backend": None}
    return {**row, "workers": 1, "users": None, "scenario": scenario, "ops_per_s": ops, **fields}


def _idmint(scenario: str, ops: float, **fields: Any) -> dict[str, Any]:
    row = {"kind": "idmint", "label": "idmint serve", "backend": "sqlite", "workers": 1}
    return {**row, "users": 100, "paced": False, "scenario": scenario, "ops_per_s": ops, **fields}


def _by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["goal"]: entry for entry in entries}


def test_goals_met_and_missed_from_same_run_ratios() -> None:
    rows = [
        _baseline("b", "mint_seed", 1000.0, ops_per_server_cpu_s=1000.0),
        _baseline("c", "mint_seed", 500.0),
        _idmint("mint_seed", 800.0, ops_per_server_cpu_s=810.0),
    ]
    add_ratios(rows)
    found = _by_name(goals(rows, {}, SETTINGS))

    assert found["sqlite mint_seed / (b)"] == {
        "goal": "sqlite mint_seed / (b)",
        "value": 0.8,
        "bound": ">= 0.75",
        "met": True,
        "note": "per server CPU-second: 0.81",
    }
    fastapi = found["sqlite mint_seed / (c)"]
    assert (fastapi["value"], fastapi["bound"], fastapi["met"]) == (1.6, ">= 1.5", True)
    rows[-1]["vs"]["c"] = 1.49  # just under the bound
    assert not _by_name(goals(rows, {}, SETTINGS))["sqlite mint_seed / (c)"]["met"]
    # Only the goals whose runs are in the rows: no email shape, identify, p99, scale, workers.
    assert set(found) == {"sqlite mint_seed / (b)", "sqlite mint_seed / (c)"}


def test_a_missing_reference_row_gives_none_and_a_miss() -> None:
    paced = _idmint("mint_seed", 400.0, paced=True, p99_ms=9.0, fraction_of_peak=0.48)
    rows = [_idmint("identify", 700.0), paced]
    add_ratios(rows)  # no baselines at all: no ratios
    found = _by_name(goals(rows, {}, SETTINGS))

    identify = found["sqlite identify / (b')"]
    assert (identify["value"], identify["met"], identify["note"]) == (None, False, "")
    p99 = found["sqlite mint_seed p99 at ~half peak / ceiling's"]
    assert (p99["value"], p99["bound"], p99["met"]) == (None, "<= 2.0", False)
    assert p99["note"] == "p99 9.0 ms at 48% of peak"  # the ceiling's part needs the ceiling


def test_p99_scale_and_two_worker_goals() -> None:
    ceiling = _baseline("b", "mint_seed", 600.0, paced=True, p99_ms=4.0, fraction_of_peak=0.5)
    rows = [
        _baseline("b", "mint_seed", 1200.0),
        ceiling,
        {**_baseline("b", "mint_seed", 1800.0), "workers": 2},
        _idmint("mint_seed", 1000.0),
        _idmint("mint_seed", 500.0, paced=True, p99_ms=8.2, fraction_of_peak=0.5),
        _idmint("mint_seed", 850.0, users=5_000),
        _idmint("mint_seed", 1500.0, workers=2, pinning="server on CPU 0,1"),
    ]
    add_ratios(rows)
    found = _by_name(goals(rows, {}, SETTINGS))

    p99 = found["sqlite mint_seed p99 at ~half peak / ceiling's"]
    assert (p99["value"], p99["met"]) == (2.05, False)
    assert p99["note"] == ("p99 8.2 ms at 50% of peak; (b) at 50% of its peak: p99 4.0 ms")
    scale = found["sqlite mint_seed 5,000 users / 100 users"]
    assert (scale["value"], scale["bound"], scale["met"]) == (0.85, ">= 0.9", False)
    two = found["sqlite mint_seed 2 workers / 1 worker"]
    assert (two["value"], two["bound"], two["met"]) == (1.5, ">= 1.6", False)
    assert two["note"] == "server on CPU 0,1; (b) on this machine: 1.50x"

    # Without a store larger than the seeded users there are no scale runs to compare.
    same = Settings(users=100, scale_users=100, backends=("sqlite",))
    assert not any("users /" in goal["goal"] for goal in goals(rows, {}, same))


@pytest.mark.parametrize(
    ("ratios", "flat", "value", "met"),
    [([1.02], True, 1.02, True), ([0.85], False, 0.85, False), ([], False, None, False)],
)
def test_soak_goal_is_decided_by_flat(
    ratios: list[float], flat: bool, value: float | None, met: bool
) -> None:
    memory = {"sqlite": {"soak": {"mints": 2_000, "rss_ratio": ratios, "flat": flat}}}
    (entry,) = goals([], memory, SETTINGS)
    assert entry == {
        "goal": "sqlite RSS per worker after 2,000 mints / after the first chunk",
        "value": value,
        "bound": "<= 1.1",
        "met": met,
        "note": f"flat within ±10%: {flat}",
    }


def test_evaluate_one_goal_record() -> None:
    goal = Goal(
        name="{backend} jwks rate",
        rows={"of": {"kind": "idmint", "scenario": "jwks"}},
        metric=Field("of", ("ops_per_s",)),
        op="<=",
        bound=100.0,
        why="a record of the same shape as the table's",
    )
    rows = [_idmint("jwks", 90.0)]
    assert evaluate(goal, rows, {"backend": "sqlite"}) == {
        "goal": "sqlite jwks rate",
        "value": 90.0,
        "bound": "<= 100.0",
        "met": True,
        "note": "",
    }
    assert evaluate(goal, [_idmint("identify", 90.0)], {"backend": "sqlite"}) is None


def test_no_module_over_about_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in (ROOT / "bench").rglob("*.py")
    }
    assert "bench/http/goals.py" in sizes
    assert {path: n for path, n in sizes.items() if n > 400} == {}


def test_python_m_bench_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--only", "--quick", "--check", "--soak", "--output"):
        assert option in done.stdout
    assert "{core,breakdown,http}" in done.stdout
