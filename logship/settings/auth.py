"""The rules of a sink's authentication settings, in one place: ``config.load`` reports what breaks
them as configuration problems, ``logship.sinks._http.auth_headers`` refuses a config built without it."""

from __future__ import annotations


def auth_problems(prefix: str, *, username: str | None = None, password: str | None = None,
                  bearer_token: str | None = None, api_key: str | None = None,
                  password_needs_user: bool = True) -> list[str]:
    """What is wrong with one sink's authentication variables (``prefix``: ``LOGSHIP_LOKI_``…), one
    sentence each naming the variables: more than one way to authenticate, a password without a user
    (unless the store has a default user: ``password_needs_user=False``), a user name with ``:``."""
    given = [name for name, value in (("USERNAME", username), ("BEARER_TOKEN", bearer_token),
                                      ("API_KEY", api_key)) if value]
    problems = []
    if len(given) > 1:
        problems.append(f"{' and '.join(prefix + name for name in given)}: expected only one way to authenticate")
    if password and not username and password_needs_user:
        problems.append(f"{prefix}PASSWORD is set without {prefix}USERNAME: expected both for basic auth")
    if username and ":" in username:
        problems.append(f"{prefix}USERNAME={username!r}: expected a user name without ':' (basic authentication)")
    return problems
