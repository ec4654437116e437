"""End-to-end benchmarks of logship against the real local dockerd (issue #6); see bench/README.md."""
