"""The `stdout` sink: NDJSON records on standard output (for `docker logs` of logship, or a pipe)."""
