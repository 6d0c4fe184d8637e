"""``python -m bench.http.throttle [--quick] [--output FILE]``: the throttle part alone, on a
fresh SQLite store (``make bench`` runs it within the section ``http``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench.http.deployment import prepare
from bench.http.processes import plan_pinning
from bench.http.settings import QUICK, Settings
from bench.http.throttle.report import lines
from bench.http.throttle.runs import Progress, run_throttle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http.throttle")
    parser.add_argument("--quick", action="store_true", help="short smoke run, rough figures")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 2
    # The in-process timings of the store's preparation are not reported here: kept short.
    settings = dataclasses.replace(QUICK if args.quick else Settings(), in_process_seconds=0.05)
    workdir = Path(tempfile.mkdtemp(prefix="idmint-bench-throttle-"))
    say: Progress = lambda text: print(f"... {text}", file=sys.stderr)  # noqa: E731
    try:
        deployment = prepare("sqlite", workdir, settings, plan_pinning(1).server)
        part = run_throttle(deployment, workdir, settings, say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines(part)))
    if args.output is not None:
        args.output.write_text(json.dumps(part, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
