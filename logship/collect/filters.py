"""Which containers to follow: name, label and image filters from the configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping

from logship.settings.types import CollectConfig

DISABLE_LABEL = "logship.enable"


class ContainerFilter:
    """Decides from a container's name, labels and image whether logship follows it."""

    def __init__(self, config: CollectConfig, own_container_id: str | None = None) -> None:
        self._config = config
        self._own_id = own_container_id

    def accepts(self, container_id: str, name: str, labels: Mapping[str, str], image: str) -> bool:
        """True when the container is to be followed. ``name`` may carry Docker's leading slash."""
        config = self._config
        name = name.lstrip("/")
        if labels.get(DISABLE_LABEL, "").lower() == "false":
            return False
        if self._own_id and not config.include_self and container_id.startswith(self._own_id):
            return False
        if config.include_names is not None and not config.include_names.search(name):
            return False
        if config.exclude_names is not None and config.exclude_names.search(name):
            return False
        if config.exclude_images is not None and config.exclude_images.search(image):
            return False
        if config.include_labels and not any(_matches(labels, sel) for sel in config.include_labels):
            return False
        return not any(_matches(labels, sel) for sel in config.exclude_labels)


def _matches(labels: Mapping[str, str], selector: tuple[str, str | None]) -> bool:
    key, value = selector
    return key in labels and (value is None or labels[key] == value)


_CGROUP_ID = re.compile(r"^\d+:[^:]*:.*?/docker[/-]([0-9a-f]{64})", re.M)
# The mount of /etc/hostname names the container's own folder; other mounts (shared IPC of another
# container, say) may name other containers.
_HOSTNAME_MOUNT_ID = re.compile(r"/containers/([0-9a-f]{64})/hostname /etc/hostname ")


def own_container_id(mountinfo: str | None = None, cgroup: str | None = None) -> str | None:
    """logship's own container id when it runs in a container, else None.

    cgroup v1 names the container in ``/proc/self/cgroup``; under cgroup v2 it shows in the mount
    Docker makes for ``/etc/hostname`` (``/proc/self/mountinfo``).
    """
    for text, path, pattern in ((cgroup, "/proc/self/cgroup", _CGROUP_ID),
                                (mountinfo, "/proc/self/mountinfo", _HOSTNAME_MOUNT_ID)):
        if text is None:
            try:
                with open(path) as handle:
                    text = handle.read()
            except OSError:
                continue
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None
