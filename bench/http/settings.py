"""How long and how much the HTTP tier measures: the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """How long and how much: wrk takes whole seconds."""

    duration: int = 4  # seconds per measured run
    warmup: int = 1  # seconds of unmeasured load before each scenario on a fresh server
    connections: int = 32
    users: int = 100  # users seeded, cycled over by the mint and identify scripts
    scale_users: int = 100_000  # users in the store for the scale runs
    soak: int = 15_000  # mints (each a new user) in the memory soak; --soak N changes it
    soak_chunks: int = 10
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    paced: bool = True  # p99 at half of peak
    two_workers: bool = True
    access_log_variant: bool = True
    in_process_seconds: float = 0.5
    throttle: bool = True  # the throttle's part (bench.http.throttle), on SQLite
    throttle_duration: int = 3  # seconds per measured run there (15 runs, ~2 minutes)


QUICK = Settings(
    duration=1,
    warmup=1,
    scale_users=5_000,
    soak=2_000,
    soak_chunks=2,
    in_process_seconds=0.2,
    throttle_duration=1,
)
