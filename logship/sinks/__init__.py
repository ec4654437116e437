"""Sinks: one package per store (``spec``, ``encode``, ``classify``, ``sink``), one interface (``base.Sink``).

``registry`` lists every sink's ``spec`` (its variables, typed config, batch defaults and factory) and builds
the configured ones. Shared by the stores: ``_spec`` (the variables every sink has), ``_http`` (HTTP client,
status rows, excerpts), ``_stream`` (TLS for TCP streams).
"""
