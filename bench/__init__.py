"""idmint benchmarks, run from the repository root as ``python -m bench`` (``make bench``).

Two tiers, each a section of the report:

- ``bench.micro``: the library in one process, mint and verify against raw ``cryptography``
  (``core``) and where each microsecond goes (``breakdown``);
- ``bench.http``: the service on uvicorn under ``wrk``, against baselines measured in the same
  run (``http``).

``bench.cli`` runs the sections, prints their tables and writes every figure to
``bench/results/latest.json``.
"""
