"""The processes of a run: uvicorn servers started and stopped, pinned to CPUs with
``taskset``, and what they and the machine use, read from ``/proc``.

Pinning: with at least 2 usable CPUs and ``taskset``, the server runs on the first CPU and wrk
on the second; two workers get both CPUs, and then wrk shares them (reported).  Every run
records the CPU used by the server, by wrk, and by everything else on the machine (from
``/proc/stat``: other processes and hypervisor steal), so a disturbed figure can be told apart.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BASELINES = Path(__file__).resolve().parent / "baselines"
PYTHON = sys.executable
IDMINT = str(Path(sys.executable).with_name("idmint"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- machine ------------------------------------------------------------------------------


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def proc_stat() -> dict[str, tuple[float, float]]:
    """Per CPU line of /proc/stat: (busy seconds incl. steal, total seconds)."""
    out: dict[str, tuple[float, float]] = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if not line.startswith("cpu"):
                break
            name, *values = line.split()
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in values[:8])
            busy = user + nice + system + irq + softirq + steal
            out[name] = (busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK)
    return out


def _process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, KiB."""
    out: dict[str, int] = {"pid": pid}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out["rss_kib" if key == "VmRSS" else "hwm_kib"] = int(value.split()[0])
    except OSError:
        pass
    return out


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the server and wrk are pinned to (None: not pinned)."""

    server: tuple[int, ...] | None
    load: tuple[int, ...] | None
    note: str

    def describe(self) -> str:
        return self.note


def plan_pinning(workers: int) -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None:
        return Pinning(None, None, "not pinned: taskset is missing")
    if len(cpus) < 2:
        return Pinning(None, None, f"not pinned: only CPU {cpus} usable")
    if len(cpus) > workers:
        server, load = tuple(cpus[:workers]), (cpus[workers],)
        return Pinning(server, load, f"server on CPU {_cpus(server)}, wrk on CPU {_cpus(load)}")
    server = tuple(cpus[:workers])
    return Pinning(
        server,
        None,
        f"server on CPU {_cpus(server)}; wrk not pinned and shares them "
        f"(only {len(cpus)} CPUs: the load generator competes with the workers)",
    )


def _cpus(cores: tuple[int, ...]) -> str:
    return ",".join(map(str, cores))


def taskset(cores: tuple[int, ...] | None) -> list[str]:
    return [] if cores is None else ["taskset", "-c", _cpus(cores)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- servers ------------------------------------------------------------------------------


class Server:
    """One uvicorn server (baseline or idmint) on loopback, its output in a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        workers: int,
        pinning: Pinning,
        log: Path,
        ready_path: str,
        port: int,
    ) -> None:
        self.name = name
        self.workers = workers
        self.pinning = pinning
        self.port = port
        self.ready_path = ready_path
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [*taskset(pinning.server), *argv],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()}")
            try:
                status, _ = request(self.port, "GET", self.ready_path)
                if status < 500:
                    self.pids = self._worker_pids()
                    if len(self.pids) >= self.workers:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.output()}")
            time.sleep(0.1)

    def _worker_pids(self) -> list[int]:
        master = self.process.pid
        if self.workers == 1:
            return [master]
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    ppid = int(stat.read().rpartition(")")[2].split()[1])
                if ppid != master:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if b"spawn_main" in cmdline.read():
                        children.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        return sorted(children)

    def cpu_seconds(self) -> float:
        return sum(_process_cpu(pid) for pid in {self.process.pid, *self.pids})

    def memory(self) -> list[dict[str, int]]:
        return [_memory(pid) for pid in self.pids]

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own session, started above
                self.process.wait(timeout=5)
        self._log.close()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@contextlib.contextmanager
def serving(
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    workers: int,
    workdir: Path,
    ready_path: str,
    progress: Callable[[str], None],
) -> Iterator[Server]:
    port = _free_port()
    argv = [*argv, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log = workdir / f"{name.replace(' ', '_').replace('/', '_')}-{port}.log"
    server = Server(
        name,
        argv,
        env=env,
        workers=workers,
        pinning=plan_pinning(workers),
        log=log,
        ready_path=ready_path,
        port=port,
    )
    try:
        server.wait_ready()
        progress(f"http: {name} up on :{port} ({server.pinning.describe()})")
        yield server
    finally:
        server.stop()


def baseline_argv(module: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        str(BASELINES),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


IDMINT_SERVE = [IDMINT, "serve"]
IDMINT_NO_ACCESS_LOG = [
    PYTHON,
    "-m",
    "uvicorn",
    "--factory",
    "idmint.api:create_app_from_env",
    "--no-access-log",
    "--log-level",
    "warning",
]


def wrk_version() -> str | None:
    path = shutil.which("wrk")
    if path is None:
        return None
    done = subprocess.run(  # noqa: S603 - a fixed command line
        [path, "--version"], capture_output=True, text=True, timeout=5, check=False
    )
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None
