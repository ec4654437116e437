"""ContainerFilter (as configured through LOGSHIP_INCLUDE_* / LOGSHIP_EXCLUDE_*) and own_container_id."""

from __future__ import annotations

import pytest

from logship.collect.filters import ContainerFilter, own_container_id
from logship.config import load

OWN = "4f1c" + "0123456789abcdef" * 3 + "abcdef012345"
OTHER = "9e2d" + "fedcba9876543210" * 3 + "fedcba987654"
assert len(OWN) == len(OTHER) == 64


def container_filter(env: dict[str, str], own: str | None = OWN) -> ContainerFilter:
    return ContainerFilter(load(env).collect, own)


# (env, container name, labels, image, followed?)
CASES = [
    ({}, "/web", {}, "nginx:1.27", True),
    ({}, "web", {}, "nginx:1.27", True),
    # include names: regex search on the name without Docker's leading slash
    ({"LOGSHIP_INCLUDE_NAMES": "^web"}, "/web-1", {}, "nginx", True),
    ({"LOGSHIP_INCLUDE_NAMES": "^web"}, "/api-web", {}, "nginx", False),
    ({"LOGSHIP_INCLUDE_NAMES": "web"}, "/api-web", {}, "nginx", True),
    ({"LOGSHIP_INCLUDE_NAMES": "^/web"}, "/web", {}, "nginx", False),
    ({"LOGSHIP_INCLUDE_NAMES": "^(web|api)$"}, "/api", {}, "nginx", True),
    ({"LOGSHIP_INCLUDE_NAMES": "^(web|api)$"}, "/api2", {}, "nginx", False),
    # exclude names
    ({"LOGSHIP_EXCLUDE_NAMES": "^tmp-"}, "/tmp-build", {}, "busybox", False),
    ({"LOGSHIP_EXCLUDE_NAMES": "^tmp-"}, "/build-tmp-1", {}, "busybox", True),
    ({"LOGSHIP_INCLUDE_NAMES": "web", "LOGSHIP_EXCLUDE_NAMES": "canary"}, "/web-canary", {}, "x", False),
    # include labels: key or key=value, any of them
    ({"LOGSHIP_INCLUDE_LABELS": "team"}, "/a", {"team": "shop"}, "x", True),
    ({"LOGSHIP_INCLUDE_LABELS": "team"}, "/a", {"teams": "shop"}, "x", False),
    ({"LOGSHIP_INCLUDE_LABELS": "team"}, "/a", {}, "x", False),
    ({"LOGSHIP_INCLUDE_LABELS": "env=prod"}, "/a", {"env": "prod"}, "x", True),
    ({"LOGSHIP_INCLUDE_LABELS": "env=prod"}, "/a", {"env": "dev"}, "x", False),
    ({"LOGSHIP_INCLUDE_LABELS": "env=prod"}, "/a", {"env": "prod-2"}, "x", False),
    ({"LOGSHIP_INCLUDE_LABELS": "env=prod,team"}, "/a", {"team": "x"}, "x", True),
    ({"LOGSHIP_INCLUDE_LABELS": "env=prod, team"}, "/a", {"env": "dev"}, "x", False),
    ({"LOGSHIP_INCLUDE_LABELS": "env="}, "/a", {"env": ""}, "x", True),
    ({"LOGSHIP_INCLUDE_LABELS": "env="}, "/a", {"env": "prod"}, "x", False),
    # exclude labels
    ({"LOGSHIP_EXCLUDE_LABELS": "noisy"}, "/a", {"noisy": "1"}, "x", False),
    ({"LOGSHIP_EXCLUDE_LABELS": "env=dev"}, "/a", {"env": "dev"}, "x", False),
    ({"LOGSHIP_EXCLUDE_LABELS": "env=dev"}, "/a", {"env": "prod"}, "x", True),
    ({"LOGSHIP_INCLUDE_LABELS": "team", "LOGSHIP_EXCLUDE_LABELS": "env=dev"}, "/a",
     {"team": "t", "env": "dev"}, "x", False),
    # exclude images
    ({"LOGSHIP_EXCLUDE_IMAGES": "^busybox"}, "/a", {}, "busybox:local", False),
    ({"LOGSHIP_EXCLUDE_IMAGES": "^busybox"}, "/a", {}, "nginx:1.27", True),
    ({"LOGSHIP_EXCLUDE_IMAGES": r"logship"}, "/a", {}, "registry.example/ops/logship:0.1", False),
    # logship.enable=false always wins
    ({}, "/a", {"logship.enable": "false"}, "x", False),
    ({}, "/a", {"logship.enable": "False"}, "x", False),
    ({}, "/a", {"logship.enable": "true"}, "x", True),
    ({"LOGSHIP_INCLUDE_LABELS": "team"}, "/a", {"team": "t", "logship.enable": "false"}, "x", False),
]


@pytest.mark.parametrize(("env", "name", "labels", "image", "expected"), CASES)
def test_accepts(env: dict[str, str], name: str, labels: dict[str, str], image: str, expected: bool) -> None:
    assert container_filter(env).accepts(OTHER, name, labels, image) is expected


@pytest.mark.parametrize(
    ("env", "own", "container_id", "expected"),
    [
        ({}, OWN, OWN, False),
        ({}, OWN, OTHER, True),
        ({"LOGSHIP_INCLUDE_SELF": "true"}, OWN, OWN, True),
        ({}, None, OWN, True),
        ({}, OWN[:12], OWN, False),  # a short id names the same container
    ],
)
def test_own_container_is_skipped_unless_include_self(env: dict[str, str], own: str | None, container_id: str,
                                                      expected: bool) -> None:
    assert container_filter(env, own).accepts(container_id, "/logship", {}, "logship:0.1") is expected


CGROUP_V1 = f"""12:memory:/docker/{OWN}
11:cpuset:/docker/{OWN}
10:devices:/docker/{OWN}
1:name=systemd:/docker/{OWN}
0::/system.slice/containerd.service
"""
CGROUP_V1_SYSTEMD = f"""4:pids:/system.slice/docker-{OWN}.scope
1:name=systemd:/system.slice/docker-{OWN}.scope
"""
CGROUP_V2 = "0::/\n"
HOST_CGROUP = "0::/user.slice/user-1000.slice/session-2.scope\n"
MOUNTINFO = f"""\
612 540 0:56 / / rw,relatime master:301 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC,\
upperdir=/var/lib/docker/overlay2/0f9e/diff,workdir=/var/lib/docker/overlay2/0f9e/work
613 612 0:59 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
622 612 254:1 /var/lib/docker/containers/{OWN}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw
623 612 254:1 /var/lib/docker/containers/{OWN}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw
624 612 254:1 /var/lib/docker/containers/{OWN}/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw
"""
HOST_MOUNTINFO = """\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
24 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
"""

# On a host, a container with IpcMode "shareable" (the daemon default before 20.10, and what
# `ipc: shareable` asks for) has its /dev/shm tmpfs mounted at this path in the host's namespace.
HOST_MOUNTINFO_WITH_SHAREABLE_IPC = HOST_MOUNTINFO + (
    f"1131 22 0:104 / /var/lib/docker/containers/{OTHER}/mounts/shm rw,nosuid,nodev,noexec,relatime "
    "shared:573 - tmpfs shm rw,size=65536k\n")


@pytest.mark.parametrize(
    ("cgroup", "mountinfo", "expected"),
    [
        pytest.param(CGROUP_V1, HOST_MOUNTINFO, OWN, id="cgroup-v1"),
        pytest.param(CGROUP_V1_SYSTEMD, HOST_MOUNTINFO, OWN, id="cgroup-v1-systemd-driver"),
        pytest.param(CGROUP_V2, MOUNTINFO, OWN, id="cgroup-v2-mountinfo"),
        pytest.param(HOST_CGROUP, HOST_MOUNTINFO, None, id="not-in-a-container"),
        pytest.param("", "", None, id="empty"),
        pytest.param(HOST_CGROUP, HOST_MOUNTINFO_WITH_SHAREABLE_IPC, None, id="host-with-another-containers-shm"),
        pytest.param(f"12:memory:/docker/{OWN[:12]}\n", HOST_MOUNTINFO, None, id="short-id-is-not-an-id"),
    ],
)
def test_own_container_id(cgroup: str, mountinfo: str, expected: str | None) -> None:
    assert own_container_id(mountinfo=mountinfo, cgroup=cgroup) == expected
