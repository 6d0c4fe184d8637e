"""idmint benchmarks: ``make bench``, or ``python -m bench`` from the repository root.

Runs each section, prints its table and writes every figure, with the machine it came from,
to ``bench/results/latest.json``.  Speed goals are ratios against a baseline measured in the
same run, so they hold on any machine.  With ``--check`` the exit status is 1 when a goal
is missed (the ratio is noisy by a few percent, so a goal right at its bound may flip).

A section is a module with ``run(progress) -> dict`` and a renderer
(``table(section) -> (headers, rows)`` or ``lines(section) -> list[str]``); add new ones
to ``SECTIONS``.  ``http`` (the package ``bench.http``) runs the service under ``wrk``.

    python -m bench                     # all sections, about 6 minutes
    python -m bench --quick             # a smoke run of 2.5-3.5 minutes; figures are rough
    python -m bench --only core         # one section
    python -m bench --only http --soak 1000000   # the HTTP section with the long soak
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# name -> the section's module; run in this order.
SECTIONS: dict[str, str] = {
    "core": "bench.micro.core",
    "breakdown": "bench.micro.breakdown",
    "http": "bench.http",
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    import idmint

    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        openssl = backend.openssl_version_text()
    except Exception:  # informational only
        openssl = None
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "idmint": getattr(idmint, "__version__", None),
        "idmint_path": str(Path(idmint.__file__).parent),
        "cryptography": _version("cryptography"),
        "openssl": openssl,
        "orjson": _version("orjson"),
        "pyjwt": _version("pyjwt"),
    }


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

        def line(cells: list[str]) -> str:
            first = f"{cells[0]:<{widths[0]}}"
            rest = (f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))
            return "  ".join((first, *rest))

        return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])
    table = Table(*headers, show_edge=False, pad_edge=False)
    for column in table.columns[1:]:
        column.justify = "right"
    for row in rows:
        table.add_row(*row)
    console = Console(width=200, record=True)
    with console.capture() as capture:
        console.print(table)
    return capture.get().rstrip()


def render(section: dict[str, Any], module: Any) -> str:
    parts = [f"== {section['title']} =="]
    if hasattr(module, "table"):
        parts.append(render_table(*module.table(section)))
    if hasattr(module, "lines"):
        parts.extend(module.lines(section))
    parts.extend(f"note: {note}" for note in section.get("notes", ()))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run a section")
    parser.add_argument("--quick", action="store_true", help="short smoke run, rough figures")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="http: mints in the memory soak (default 15000; the issue's goal names 1000000)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the JSON (default: bench/results/latest.json)",
    )
    args = parser.parse_args(argv)

    try:
        import idmint  # noqa: F401 - fail early with a clear message
    except ImportError:
        print("idmint is not importable: install it (make env) first.", file=sys.stderr)
        return 2

    progress: Callable[[str], None] = lambda text: print(f"... {text}", file=sys.stderr)  # noqa: E731
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": machine(),
        "loadavg_start": _loadavg(),
        "quick": args.quick,
        "sections": {},
    }
    goals_met = True
    for name in args.only or list(SECTIONS):
        module = importlib.import_module(SECTIONS[name])
        kwargs: dict[str, Any] = {"progress": progress}
        if args.quick and hasattr(module, "QUICK"):
            kwargs["settings"] = module.QUICK
        if args.soak is not None and "soak" in inspect.signature(module.run).parameters:
            kwargs["soak"] = args.soak
        section = module.run(**kwargs)
        if args.quick:
            section.setdefault("notes", []).append("--quick: a smoke run; the figures are rough.")
        report["sections"][name] = section
        goals_met = goals_met and section.get("goals_met", True)
        print(render(section, module), end="\n\n", flush=True)
    report["loadavg_end"] = _loadavg()
    report["goals_met"] = goals_met
    report["duration_s"] = round(time.perf_counter() - started, 1)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    m = report["machine"]
    print(
        f"{m['cpu_model']}, {m['cpu_count']} CPUs; Python {m['python']}, "
        f"cryptography {m['cryptography']} ({m['openssl']}); {report['duration_s']} s"
    )
    print(f"goals {'met' if goals_met else 'MISSED'}; results in {_display(args.output)}")
    return 1 if args.check and not goals_met else 0


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
