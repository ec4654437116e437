# shellcheck shell=bash
# Helpers for .ci/run. Source this file; do not execute it.
#
# Each ensure_* / cleanup_* function is idempotent and prints exactly one
# "[ci] <step>: <what it did> (<seconds>s)" line. Noisy tool output (apt,
# pip, dockerd) goes to log files under $CI_LOG_DIR; on failure the tail of
# the relevant log is printed and the function exits the script with 1.
#
# To add a dependency later (ClickHouse, rsyslog, ...): write another
# ensure_* function here (reuse ensure_apt_packages / ci_apt_install for
# Debian packages) and call it from .ci/run.

# Debian's docker.io 20.10 binaries. /usr/local/bin/docker on the CI machine
# is a newer CLI; always use these explicitly.
CI_DOCKER=/usr/bin/docker
CI_DOCKERD=/usr/sbin/dockerd

CI_STATE_DIR=/var/lib/logship-ci
CI_LOG_DIR=/var/log/logship-ci
CI_RUN_DIR=/var/run/logship-ci
CI_DOCKER_DATA_ROOT=$CI_STATE_DIR/docker
CI_DOCKER_SOCK=/var/run/docker.sock
CI_DOCKERD_LOG=$CI_LOG_DIR/dockerd.log
CI_DOCKERD_PIDFILE=$CI_RUN_DIR/dockerd.pid
CI_DOCKERD_TIMEOUT=60          # seconds to wait for /_ping after starting dockerd
CI_TEST_IMAGE=busybox:local
CI_TEST_LABEL=${CI_TEST_LABEL:-logship.test}  # label on every docker object the tests create (override only to test .ci itself)
CI_PYTHON=${CI_PYTHON:-python3}

CI_APT_UPDATED=0               # apt-get update runs at most once per script run

# ---------------------------------------------------------------- utilities

ci_log() { printf '[ci] %s\n' "$*"; }

ci_die() {
  printf '[ci] ERROR: %s\n' "$*" >&2
  exit 1
}

# Microseconds since the epoch (EPOCHREALTIME's decimal separator depends
# on the locale, so strip either).
ci_now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# ci_done STEP START_US MESSAGE...  -> "[ci] STEP: MESSAGE (1.2s)"
ci_done() {
  local step=$1 start=$2
  shift 2
  local ms=$((($(ci_now_us) - start) / 1000))
  printf '[ci] %s: %s (%d.%ds)\n' "$step" "$*" $((ms / 1000)) $((ms % 1000 / 100))
}

# ci_tail FILE [N]: show the end of a log file on stderr.
ci_tail() {
  local file=$1 n=${2:-40}
  if [[ -s $file ]]; then
    printf '[ci] ---- last %d lines of %s ----\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2
    printf '[ci] ---- end of %s ----\n' "$file" >&2
  fi
}

ci_docker() { "$CI_DOCKER" "$@"; }

# True when the engine on $CI_DOCKER_SOCK answers /_ping with OK.
ci_engine_ok() {
  command -v curl >/dev/null 2>&1 || return 1
  [[ -S $CI_DOCKER_SOCK ]] || return 1
  [[ "$(curl -s --max-time 5 --unix-socket "$CI_DOCKER_SOCK" http://x/_ping 2>/dev/null)" == OK ]]
}

# True when the kernel enforces AppArmor (then dockerd needs apparmor_parser
# to load its docker-default profile, or every container start fails).
ci_apparmor_needed() {
  [[ -d /sys/kernel/security/apparmor ]] &&
    [[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" == Y* ]]
}

# True when /bin/busybox exists and is statically linked (the dynamic
# `busybox` package's binary would not run inside the empty image).
ci_busybox_static() {
  [[ -x /bin/busybox ]] || return 1
  ! ldd /bin/busybox >/dev/null 2>&1
}

# ---------------------------------------------------------------- apt

ci_apt_update_once() {
  ((CI_APT_UPDATED)) && return 0
  local try
  for try in 1 2 3; do
    if apt-get -o DPkg::Lock::Timeout=300 update >>"$CI_LOG_DIR/apt.log" 2>&1; then
      CI_APT_UPDATED=1
      return 0
    fi
    sleep $((try * 5))
  done
  ci_tail "$CI_LOG_DIR/apt.log"
  ci_die "apt-get update failed (3 attempts)"
}

# ci_apt_install PKG...: non-interactive install with a policy-rc.d that
# forbids starting services (restored/removed afterwards).
ci_apt_install() {
  local policy=/usr/sbin/policy-rc.d backup="" rc=0 try
  ci_apt_update_once
  if [[ -e $policy ]]; then
    backup=$(mktemp)
    cp -p "$policy" "$backup"
  fi
  printf '#!/bin/sh\n# written by logship .ci/lib.sh: never start services from maintainer scripts\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  for try in 1 2 3; do
    rc=0
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l \
      apt-get -o DPkg::Lock::Timeout=300 \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      install -y --no-install-recommends "$@" >>"$CI_LOG_DIR/apt.log" 2>&1 || rc=$?
    ((rc == 0)) && break
    sleep $((try * 5))
  done
  if [[ -n $backup ]]; then
    mv -f "$backup" "$policy"
  else
    rm -f "$policy"
  fi
  if ((rc != 0)); then
    ci_tail "$CI_LOG_DIR/apt.log"
    ci_die "apt-get install $* failed (exit $rc)"
  fi
}

# ensure_apt_packages PKG...: install whichever of PKG are not installed.
ensure_apt_packages() {
  local t0 p missing=()
  t0=$(ci_now_us)
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    ci_done ensure_apt_packages "$t0" "already installed: $*"
    return 0
  fi
  ci_apt_install "${missing[@]}"
  ci_done ensure_apt_packages "$t0" "installed ${missing[*]}"
}

# ---------------------------------------------------------------- docker

# docker.io + busybox-static (+ curl for the ping, apparmor when the kernel
# enforces it). Skipped entirely when the binaries are already there.
ensure_docker_packages() {
  local t0 pkgs=(docker.io busybox-static curl)
  t0=$(ci_now_us)
  ci_apparmor_needed && pkgs+=(apparmor)
  if [[ -x $CI_DOCKERD && -x $CI_DOCKER ]] && ci_busybox_static &&
    command -v curl >/dev/null 2>&1 &&
    { ! ci_apparmor_needed || command -v apparmor_parser >/dev/null 2>&1; }; then
    ci_done ensure_docker_packages "$t0" "dockerd, docker CLI and static busybox present, apt skipped"
    return 0
  fi
  ci_apt_install "${pkgs[@]}"
  [[ -x $CI_DOCKERD && -x $CI_DOCKER ]] || ci_die "docker.io installed but $CI_DOCKERD / $CI_DOCKER missing"
  ci_busybox_static || ci_die "busybox-static installed but /bin/busybox is missing or not static"
  ci_done ensure_docker_packages "$t0" "apt-get installed ${pkgs[*]}"
}

# Make sure an engine answers on $CI_DOCKER_SOCK; start our own dockerd if not.
ensure_dockerd() {
  local t0 pid="" waited=0
  t0=$(ci_now_us)
  if ci_engine_ok; then
    ci_done ensure_dockerd "$t0" "engine already answering on $CI_DOCKER_SOCK"
    return 0
  fi
  mkdir -p "$CI_DOCKER_DATA_ROOT" "$CI_LOG_DIR" "$CI_RUN_DIR"
  # A dockerd we started earlier may still be coming up: wait for it
  # instead of starting a second one (it would fail on the pid file lock).
  if [[ -s $CI_DOCKERD_PIDFILE ]]; then
    pid=$(<"$CI_DOCKERD_PIDFILE")
    if ! kill -0 "$pid" 2>/dev/null; then
      pid=""
    fi
  fi
  if [[ -z $pid ]]; then
    printf '\n[ci] ==== starting dockerd at %s ====\n' "$(date -u +%FT%TZ)" >>"$CI_DOCKERD_LOG"
    # Debian's own containerd/runc/iptables/docker-proxy first on PATH.
    # setsid + nohup: dockerd outlives this script (the CI machine is discarded).
    PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH" setsid nohup "$CI_DOCKERD" \
      --data-root "$CI_DOCKER_DATA_ROOT" \
      -H "unix://$CI_DOCKER_SOCK" \
      >>"$CI_DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$CI_DOCKERD_PIDFILE"
  fi
  # Poll every 0.5 s for up to $CI_DOCKERD_TIMEOUT seconds.
  until ci_engine_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      ci_tail "$CI_DOCKERD_LOG" 60
      ci_die "dockerd (pid $pid) exited before answering /_ping; see $CI_DOCKERD_LOG"
    fi
    if ((waited >= CI_DOCKERD_TIMEOUT * 2)); then
      ci_tail "$CI_DOCKERD_LOG" 60
      ci_die "dockerd (pid $pid) did not answer /_ping within ${CI_DOCKERD_TIMEOUT}s; see $CI_DOCKERD_LOG"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  ci_done ensure_dockerd "$t0" "started dockerd pid $pid (data-root $CI_DOCKER_DATA_ROOT, log $CI_DOCKERD_LOG)"
}

# Import $CI_TEST_IMAGE from the host's static busybox (nothing can be
# pulled in CI), then prove a container runs.
ensure_busybox_image() {
  local t0 what root out applet
  t0=$(ci_now_us)
  if ci_docker image inspect "$CI_TEST_IMAGE" >/dev/null 2>&1; then
    what="$CI_TEST_IMAGE already present"
  else
    ci_busybox_static || ci_die "/bin/busybox missing or not statically linked (install busybox-static)"
    root=$CI_STATE_DIR/busybox-root
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    while read -r applet; do
      [[ -n $applet && $applet != busybox ]] || continue
      ln -sf busybox "$root/bin/$applet"
    done < <(/bin/busybox --list)
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
      ci_docker import -c 'CMD ["/bin/sh"]' - "$CI_TEST_IMAGE" >/dev/null ||
      ci_die "docker import of $CI_TEST_IMAGE failed"
    rm -rf "$root"
    what="imported $CI_TEST_IMAGE from /bin/busybox"
  fi
  out=$(ci_docker run --rm "$CI_TEST_IMAGE" sh -c 'echo ok' 2>&1) || true
  if [[ $out != ok ]]; then
    printf '%s\n' "$out" >&2
    ci_tail "$CI_DOCKERD_LOG" 30
    ci_die "docker run --rm $CI_TEST_IMAGE sh -c 'echo ok' did not print ok"
  fi
  ci_done ensure_busybox_image "$t0" "$what, test container ran"
}

# Single-node swarm on 127.0.0.1 (tests deploy services).
ensure_swarm() {
  local t0 state out
  t0=$(ci_now_us)
  state=$(ci_docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || ci_die "docker info failed"
  if [[ $state == active ]]; then
    ci_done ensure_swarm "$t0" "swarm already active"
    return 0
  fi
  if [[ $state != inactive ]]; then
    # pending / error: a half-joined node from an earlier run; start over.
    ci_docker swarm leave --force >/dev/null 2>&1 || true
  fi
  out=$(ci_docker swarm init --advertise-addr 127.0.0.1 2>&1) || {
    printf '%s\n' "$out" >&2
    ci_die "docker swarm init failed (state was '$state')"
  }
  state=$(ci_docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || true
  [[ $state == active ]] || ci_die "swarm state is '$state' after swarm init"
  ci_done ensure_swarm "$t0" "swarm initialised (advertise 127.0.0.1)"
}

# Remove every swarm service and container labelled $CI_TEST_LABEL (plus the
# task containers of those services).
# Never fails: it runs from the EXIT trap.
cleanup_test_objects() {
  local t0 services=() containers=()
  t0=$(ci_now_us)
  if ! ci_engine_ok; then
    ci_done cleanup_test_objects "$t0" "no engine answering, nothing to clean"
    return 0
  fi
  mapfile -t services < <(ci_docker service ls -q --filter "label=$CI_TEST_LABEL" 2>/dev/null || true)
  if ((${#services[@]} > 0)); then
    # `service ls -q` truncates IDs; the task-container label holds the full one.
    mapfile -t services < <(ci_docker service inspect --format '{{.ID}}' "${services[@]}" 2>/dev/null || true)
  fi
  # Several label filters are ANDed by docker, so query once per label.
  local labels=("$CI_TEST_LABEL") label
  if ((${#services[@]} > 0)); then
    ci_docker service rm "${services[@]}" >/dev/null 2>&1 || true
    # Their task containers would only go away after the stop grace period.
    for label in "${services[@]}"; do
      labels+=("com.docker.swarm.service.id=$label")
    done
  fi
  mapfile -t containers < <(
    for label in "${labels[@]}"; do
      ci_docker ps -aq --filter "label=$label" 2>/dev/null || true
    done | sort -u
  )
  if ((${#containers[@]} > 0)); then
    ci_docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  fi
  # Stacks the deploy tests made (tests/deploy: stack names start with lsdeploy) and their volumes.
  local stacks=() volumes=()
  mapfile -t stacks < <(ci_docker stack ls --format '{{.Name}}' 2>/dev/null | grep '^lsdeploy' || true)
  if ((${#stacks[@]} > 0)); then
    ci_docker stack rm "${stacks[@]}" >/dev/null 2>&1 || true
  fi
  mapfile -t volumes < <(ci_docker volume ls -q --filter "label=$CI_TEST_LABEL" 2>/dev/null || true)
  if ((${#volumes[@]} > 0)); then
    ci_docker volume rm -f "${volumes[@]}" >/dev/null 2>&1 || true
  fi
  ci_done cleanup_test_objects "$t0" "removed ${#services[@]} service(s), ${#containers[@]} container(s), ${#stacks[@]} stack(s) and ${#volumes[@]} volume(s) of the tests"
}

# ---------------------------------------------------------------- stores

# The stores that run here, for the sink tests against real servers
# (tests/servers/): Debian's ClickHouse 18.16 (HTTP interface) and rsyslog
# with its GnuTLS driver (RFC 5425). Installed under the policy-rc.d of
# ci_apt_install, so no service is started: the tests start their own
# servers on free loopback ports and stop them afterwards.
# haproxy: the Docker socket proxy of configs/compose/socket-proxy/ (tests/engine/, issue 16.3).
CI_STORE_PACKAGES=(clickhouse-server clickhouse-client rsyslog rsyslog-gnutls haproxy)

# Prints ensure_apt_packages' one line (installed / already installed).
ensure_store_packages() {
  ensure_apt_packages "${CI_STORE_PACKAGES[@]}"
  command -v clickhouse-server >/dev/null 2>&1 || [[ -x /usr/sbin/clickhouse-server ]] ||
    ci_die "clickhouse-server is installed but its binary is missing"
  [[ -x /usr/sbin/rsyslogd ]] || ci_die "rsyslog is installed but /usr/sbin/rsyslogd is missing"
}

# ---------------------------------------------------------------- python

ensure_python_deps() {
  local t0 rc=0
  t0=$(ci_now_us)
  [[ -f pyproject.toml ]] || ci_die "no pyproject.toml in $PWD"
  PIP_ROOT_USER_ACTION=ignore "$CI_PYTHON" -m pip install \
    --disable-pip-version-check --progress-bar off -e '.[test]' \
    >>"$CI_LOG_DIR/pip.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    ci_tail "$CI_LOG_DIR/pip.log"
    ci_die "pip install -e '.[test]' failed (exit $rc)"
  fi
  ci_done ensure_python_deps "$t0" "pip install -e '.[test]' with $("$CI_PYTHON" --version 2>&1) (log $CI_LOG_DIR/pip.log)"
}

# Lint and types before the tests (issue 13.6): ruff on the whole tree, mypy strict on the package.
# Findings fail the run; their output is printed, not only logged.
check_code() {
  local t0 rc=0
  t0=$(ci_now_us)
  "$CI_PYTHON" -m ruff check . >"$CI_LOG_DIR/ruff.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    cat "$CI_LOG_DIR/ruff.log"
    ci_die "ruff check found problems (exit $rc)"
  fi
  "$CI_PYTHON" -m mypy logship >"$CI_LOG_DIR/mypy.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    cat "$CI_LOG_DIR/mypy.log"
    ci_die "mypy (strict, see [tool.mypy] in pyproject.toml) found problems (exit $rc)"
  fi
  ci_done check_code "$t0" "ruff check . and mypy --strict logship clean"
}
