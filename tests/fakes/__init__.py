"""Fakes of stores that cannot run in CI, speaking their documented contract."""
