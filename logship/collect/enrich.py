"""The metadata every record carries, computed once per container (``../shared/design.md``, the record).

Sources: ``GET /containers/{id}/json`` (name, image, labels: compose and Swarm task labels arrive
there), ``GET /info`` once for the node (``host.name`` is the node's hostname, not logship's own
container's; ``host.id`` the Swarm node id, else the engine id), and on a Swarm manager
``GET /services/{id}`` for the service's own labels (``deploy.labels`` are not copied onto task
containers, moby#35560), cached and dropped on service events. On a worker those are left out
and the reason logged once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from logship.engine import EngineClient, EngineError, NotFound, NotSwarmManager

log = logging.getLogger(__name__)

_STRUCTURED_LABEL_PREFIXES = ("com.docker.swarm.", "com.docker.compose.", "com.docker.stack.")


def nest_fields(pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """``(("env.name", "prod"),)`` → ``{"env": {"name": "prod"}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        node = root
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return root


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of ``extra`` into ``base`` (extra wins)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def container_fields(inspect: Mapping[str, Any], node: Mapping[str, Any],
                     service_labels: Mapping[str, str] | None) -> dict[str, Any]:
    """The record's metadata for a container, from its inspect document and the node's fields."""
    config = inspect.get("Config") or {}
    labels: dict[str, str] = dict(config.get("Labels") or {})
    name = str(inspect.get("Name", "")).lstrip("/")
    container: dict[str, Any] = {"id": inspect.get("Id", ""), "name": name,
                                 "image": {"name": config.get("Image", "")}}
    own_labels = {k: v for k, v in labels.items() if not k.startswith(_STRUCTURED_LABEL_PREFIXES)}
    if own_labels:
        container["labels"] = own_labels
    fields: dict[str, Any] = {"container": container}

    stack = labels.get("com.docker.stack.namespace")
    compose_project = labels.get("com.docker.compose.project")
    compose_service = labels.get("com.docker.compose.service")
    swarm_service = labels.get("com.docker.swarm.service.name")

    service_name = name
    if swarm_service:
        service_name = swarm_service.removeprefix(f"{stack}_") if stack else swarm_service
    elif compose_service:
        service_name = compose_service
    service: dict[str, Any] = {"name": service_name}
    namespace = stack or compose_project
    if namespace:
        service["namespace"] = namespace
    fields["service"] = service

    if compose_project or compose_service:
        compose = {}
        if compose_project:
            compose["project"] = compose_project
        if compose_service:
            compose["service"] = compose_service
        fields["compose"] = compose

    if swarm_service or labels.get("com.docker.swarm.task.id"):
        swarm: dict[str, Any] = {}
        swarm_service_fields: dict[str, Any] = {}
        if labels.get("com.docker.swarm.service.id"):
            swarm_service_fields["id"] = labels["com.docker.swarm.service.id"]
        if swarm_service:
            swarm_service_fields["name"] = swarm_service
        if service_labels:
            swarm_service_fields["labels"] = dict(service_labels)
        if swarm_service_fields:
            swarm["service"] = swarm_service_fields
        task: dict[str, Any] = {}
        if labels.get("com.docker.swarm.task.id"):
            task["id"] = labels["com.docker.swarm.task.id"]
        task_name = labels.get("com.docker.swarm.task.name")
        if task_name:
            task["name"] = task_name
            slot = task_name.split(".")[1] if task_name.count(".") >= 2 else ""
            if slot.isdigit():  # global services have the node id here, not a slot
                task["slot"] = int(slot)
        if task:
            swarm["task"] = task
        node_id = labels.get("com.docker.swarm.node.id")
        if node_id:
            swarm["node"] = {"id": node_id}
        fields["swarm"] = swarm

    fields["host"] = dict(node)
    return fields


class Enricher:
    """Computes each container's metadata; caches node and Swarm service facts."""

    def __init__(self, engine: EngineClient, extra_fields: tuple[tuple[str, str], ...]) -> None:
        self._engine = engine
        self._extra = nest_fields(extra_fields)
        self._node: dict[str, str] = {}
        self._is_manager = False
        self._service_labels: dict[str, dict[str, str]] = {}
        self._worker_logged = False

    @property
    def node(self) -> Mapping[str, str]:
        return self._node

    async def load_node(self) -> None:
        """Read the node's name and id from ``/info`` (again after every reconnect)."""
        info = await self._engine.info()
        swarm = info.get("Swarm") or {}
        node_id = swarm.get("NodeID") or info.get("ID", "")
        self._node = {"name": info.get("Name", ""), "id": node_id}
        self._is_manager = bool(swarm.get("ControlAvailable"))

    def forget_service(self, service_id: str) -> None:
        """A service changed or went away: read its labels again when next needed."""
        self._service_labels.pop(service_id, None)

    async def fields(self, inspect: Mapping[str, Any]) -> dict[str, Any]:
        """The metadata of every record of this container."""
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        service_id = labels.get("com.docker.swarm.service.id")
        service_labels = await self._labels_of_service(service_id) if service_id else None
        fields = container_fields(inspect, self._node, service_labels)
        return merge(fields, copy.deepcopy(self._extra)) if self._extra else fields

    async def _labels_of_service(self, service_id: str) -> dict[str, str] | None:
        if service_id in self._service_labels:
            return self._service_labels[service_id]
        if not self._is_manager:
            self._log_worker_once("this node is not a Swarm manager")
            return None
        try:
            service = await self._engine.inspect_service(service_id)
        except NotSwarmManager as exc:
            self._is_manager = False
            self._log_worker_once(str(exc))
            return None
        except NotFound:
            return None
        except EngineError as exc:
            log.warning("cannot read the labels of Swarm service %s: %s", service_id, exc)
            return None
        labels = dict(((service.get("Spec") or {}).get("Labels")) or {})
        labels = {k: v for k, v in labels.items() if not k.startswith(_STRUCTURED_LABEL_PREFIXES)}
        self._service_labels[service_id] = labels
        return labels

    def _log_worker_once(self, reason: str) -> None:
        if not self._worker_logged:
            self._worker_logged = True
            log.info("Swarm service labels (deploy.labels) are left out of records: %s; run logship on "
                     "managers too, or copy the labels onto the containers", reason)
