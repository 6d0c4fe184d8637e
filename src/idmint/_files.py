"""Private files: what idmint keeps on disk is for its owner's eyes only.

The data directory is 0700; the SQLite database (with its ``-wal`` and ``-shm`` files) and
``master.key`` are 0600.  They hold personal data (users' emails) and the key that opens every
signing key, so neither the group nor other users of the machine may read them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "create_private_file", "private_dir", "tighten"]

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600


def tighten(path: Path, mode: int) -> None:
    """Drop the permission bits of ``path`` that ``mode`` does not allow (never adds any);
    a missing ``path`` is left alone."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        path.chmod(current & mode)


def private_dir(path: Path, *, create: bool) -> None:
    """Make ``path`` a directory only its owner can use: created 0700 when missing (if
    ``create``), tightened to 0700 when it allows the group or others anything."""
    if create:
        # mode applies to the last component only; the parents are ordinary directories.
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then it is only tightened).

    SQLite gives the ``-wal`` and ``-shm`` files it makes later the mode of the database
    file, so creating the database this way first keeps them private too.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        tighten(path, PRIVATE_FILE)
