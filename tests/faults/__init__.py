"""The fault suite (issue 12): logship under the faults a node meets, against real components.

The scenarios that logship runs as a real process live in ``scenarios.py``, shared with ``python -m bench
faults`` (the fault table of bench/RESULTS.md); each ``test_*.py`` runs one and asserts on its figures.
``LOGSHIP_FAULTS_LONG=1`` makes the store outage the issue's 10 minutes (60 s by default). The test that
restarts dockerd is marked ``dockerd_restart`` and runs after every other test (tests/conftest.py).
"""
