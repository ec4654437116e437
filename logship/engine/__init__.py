"""The Docker Engine API client: aiohttp over the Unix socket (or tcp:// with TLS)."""

from logship.engine.allowlist import ENGINE_API_ALLOWLIST
from logship.engine.client import EngineClient
from logship.engine.errors import EngineError, LogsUnreadable, NotFound, NotSwarmManager

__all__ = ["ENGINE_API_ALLOWLIST", "EngineClient", "EngineError", "LogsUnreadable", "NotFound", "NotSwarmManager"]
