"""The master key of a store: where it comes from, and the proof that it fits.

The master key seals every private signing key (:class:`~idmint.jose.keys.MasterKey`).  It comes
from ``IDMINT_MASTER_KEY`` or from the key file ``<data_dir>/master.key`` (0600, refused when
others may read it), and is made only for a store that holds no sealed key yet.  At open, one
sealed key of the store must open with it, so a wrong key stops the process at start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from idmint._files import PRIVATE_FILE, private_dir
from idmint.jose.errors import (
    InsecureFileModeError,
    InvalidKeyError,
    KeyDecryptionError,
    MasterKeyMismatchError,
    MasterKeyMissingError,
)
from idmint.jose.keys import MasterKey, SigningKey
from idmint.settings import Settings
from idmint.store import Store

__all__ = ["load_master_key", "store_master_key"]


def load_master_key(settings: Settings, *, create: bool = False) -> MasterKey:
    """The master key: ``IDMINT_MASTER_KEY``, else the key file ``<data_dir>/master.key``.

    :param create: when neither exists, generate the key file (mode 0600, in a data directory
        of mode 0700).  Only ``idmint init`` on a store without sealed keys asks for this: a
        new key cannot open keys sealed under another.
    :raises MasterKeyMissingError: when neither exists and ``create`` is false.
    :raises InsecureFileModeError: when the key file is readable or writable by the group or
        others.
    :raises InvalidKeyError: when the configured key or the file does not hold a master key.
    """
    if settings.master_key is not None:
        try:
            return MasterKey.from_text(settings.master_key.get_secret_value())
        except InvalidKeyError:
            # Not the decoder's message: it could quote part of the secret.
            raise InvalidKeyError(
                "IDMINT_MASTER_KEY is not a master key (base64url of 32 bytes)."
            ) from None
    path = settings.master_key_file
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        if not create:
            raise MasterKeyMissingError(
                f"No master key: IDMINT_MASTER_KEY is unset and {path} does not exist "
                "(`idmint init` makes one for a new store).",
                path=str(path),
            ) from None
    private_dir(path.parent, create=True)
    key = MasterKey.generate()
    # O_EXCL: two processes starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "w") as file:
        file.write(key.to_text() + "\n")
    return key


def _read_key_file(path: Path) -> MasterKey:
    # The mode is checked on the open file: the file checked is the file read.
    with path.open() as file:
        mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
        if mode & 0o066:
            # Refused, not tightened: whoever could read it may hold every signing key.
            raise InsecureFileModeError(path=str(path), mode=mode)
        text = file.read()
    try:
        return MasterKey.from_text(text)
    except InvalidKeyError:
        raise InvalidKeyError(
            f"{path} does not hold a master key (base64url of 32 bytes)."
        ) from None


def store_master_key(settings: Settings, store: Store, *, create: bool) -> MasterKey:
    """The master key for ``store``, proven to open one of its sealed signing keys.

    A wrong key is found here, at start, rather than by every mint, identify and JWKS request
    answering ``key_decryption_failed``.  A new key is made only for a store that holds no
    sealed key (``create``: ``idmint init``).
    """
    sealed = store.sealed_signing_key()
    path = settings.master_key_file
    sealer = None if sealed is None else MasterKey.id_of_sealer(sealed.sealed_private_key)
    try:
        master_key = load_master_key(settings, create=create and sealed is None)
    except MasterKeyMissingError:
        if sealed is None:
            raise
        raise MasterKeyMissingError(
            f"No master key: IDMINT_MASTER_KEY is unset and {path} does not exist, but this "
            f"store's signing keys are sealed under master key {sealer}. Restore {path} or set "
            "IDMINT_MASTER_KEY to that key; a new key cannot open them.",
            path=str(path),
        ) from None
    if sealed is None:
        return master_key
    try:
        SigningKey.decrypt(sealed.sealed_private_key, master_key, alg=sealed.alg, kid=sealed.kid)
    except KeyDecryptionError:
        if sealer == master_key.id:
            raise KeyDecryptionError(
                f"The signing key {sealed.kid} does not open with the master key it was sealed "
                f"under ({sealer}): the store's copy is damaged or was altered."
            ) from None
        source = "IDMINT_MASTER_KEY" if settings.master_key is not None else str(path)
        raise MasterKeyMismatchError(
            f"The master key in {source} (id {master_key.id}) cannot open this store's signing "
            f"keys, sealed under master key {sealer}. Configure the key the store was made "
            f"with: in IDMINT_MASTER_KEY, or in {path} with IDMINT_MASTER_KEY unset.",
            path=str(path),
            master_key_id=master_key.id,
            sealed_under=sealer or "",
        ) from None
    return master_key
