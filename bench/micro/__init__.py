"""The micro tier: the library's mint and verify in one process, next to raw ``cryptography``.

``core`` is the section *Core: mint and verify*; ``breakdown`` the section *Where the time
goes*.  Both time with :func:`bench.micro.core.measure` (interleaved best-of rounds).
"""
