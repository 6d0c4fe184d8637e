"""The core: JOSE signing and verification, keys and key rings, user-token claims, the error
tree and the clock.  It knows nothing of HTTP or storage (import-linter checks it), and the
client and the offline verifier are built on it alone.

The public names are re-exported from :mod:`idmint` itself.
"""
