"""Tests of the Python SDK (idmint.client) against the real app."""
