#!/usr/bin/env bash
# shellcheck shell=bash
# Container images of logship, built with the local engine and no registry.
#
#   bash .ci/images.sh base  [TAG]        # Python base image from Debian packages (default logship-base:bookworm)
#   bash .ci/images.sh wheels [DIR]       # wheels of the dependencies, for that base's Python (default dist/wheels)
#   bash .ci/images.sh image TAG          # base + wheels + `docker build` of the Dockerfile -> TAG
#
# or source it (after .ci/lib.sh or alone) and call ensure_base_image / ensure_wheels /
# build_logship_image. Every function is idempotent and prints one
# "[ci] <step>: <what it did> (<seconds>s)" line; noisy output goes to $CI_LOG_DIR.
#
# Why: nothing can be pulled in CI, so `FROM python:3.12-slim` is not available. The base image is
# made with debootstrap (Debian's python3 + ca-certificates, minbase variant) from the Debian mirror
# this machine's apt already uses, and imported with `docker import`; the Python dependencies are
# downloaded on the host (PyPI is reachable from the host, not from containers) into a folder of
# the build context that the Dockerfile installs from with `pip install --no-index --find-links`.
#
# Variables (all optional): CI_DOCKER (docker CLI, default /usr/bin/docker), CI_PYTHON (python3),
# CI_LOG_DIR, CI_STATE_DIR, CI_DEBIAN_MIRROR (default: the first bookworm mirror in
# /etc/apt/sources.list*, else http://deb.debian.org/debian), CI_BASE_SUITE (bookworm).

CI_IMAGES_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CI_DOCKER=${CI_DOCKER:-/usr/bin/docker}
CI_PYTHON=${CI_PYTHON:-python3}
CI_STATE_DIR=${CI_STATE_DIR:-/var/lib/logship-ci}
CI_LOG_DIR=${CI_LOG_DIR:-/var/log/logship-ci}
CI_BASE_SUITE=${CI_BASE_SUITE:-bookworm}
CI_BASE_IMAGE=${CI_BASE_IMAGE:-logship-base:$CI_BASE_SUITE}
CI_WHEELS_DIR=${CI_WHEELS_DIR:-$CI_IMAGES_REPO_ROOT/dist/wheels}

# The small helpers of .ci/lib.sh, defined here only when lib.sh was not sourced first.
declare -F ci_log >/dev/null || ci_log() { printf '[ci] %s\n' "$*"; }
declare -F ci_die >/dev/null || ci_die() {
  printf '[ci] ERROR: %s\n' "$*" >&2
  exit 1
}
declare -F ci_now_us >/dev/null || ci_now_us() {
  local t=${EPOCHREALTIME/[.,]/}
  echo "$t"
}
declare -F ci_done >/dev/null || ci_done() {
  local step=$1 start=$2
  shift 2
  local ms=$((($(ci_now_us) - start) / 1000))
  printf '[ci] %s: %s (%d.%ds)\n' "$step" "$*" $((ms / 1000)) $((ms % 1000 / 100))
}
declare -F ci_tail >/dev/null || ci_tail() {
  local file=$1 n=${2:-40}
  if [[ -s $file ]]; then
    printf '[ci] ---- last %d lines of %s ----\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2
    printf '[ci] ---- end of %s ----\n' "$file" >&2
  fi
}

# The Debian mirror apt uses on this machine for the suite (deb822 .sources or one-line .list).
ci_debian_mirror() {
  local suite=${1:-$CI_BASE_SUITE} file mirror=""
  if [[ -n ${CI_DEBIAN_MIRROR:-} ]]; then
    echo "$CI_DEBIAN_MIRROR"
    return 0
  fi
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    if [[ $file == *.sources ]]; then
      # Stanzas separated by blank lines; take the first URI of a stanza that has the suite itself.
      mirror=$(awk -v suite="$suite" '
        function flush() { if (uri != "" && has && !done) { print uri; done = 1; exit } uri = ""; has = 0 }
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]*#/ { next }
        tolower($1) == "uris:" { uri = $2 }
        tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
        END { flush() }' "$file" | head -n 1)
    else
      mirror=$(awk -v suite="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { if ($(i + 1) == suite) { print $i; exit } break } }' "$file")
    fi
    [[ -n $mirror ]] && break
  done
  echo "${mirror:-http://deb.debian.org/debian}"
}

# ensure_base_image [TAG]: a minimal Debian image with python3 and ca-certificates, imported from a
# debootstrap tree (nothing pulled). Skipped when TAG exists.
ensure_base_image() {
  local tag=${1:-$CI_BASE_IMAGE} t0 mirror root keyring=() log size rc=0
  t0=$(ci_now_us)
  if "$CI_DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    ci_done ensure_base_image "$t0" "$tag already present"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || ci_die "building $tag needs root (debootstrap)"
  mkdir -p "$CI_LOG_DIR" "$CI_STATE_DIR"
  log=$CI_LOG_DIR/base-image.log
  if ! command -v debootstrap >/dev/null 2>&1; then
    if declare -F ci_apt_install >/dev/null; then
      ci_apt_install debootstrap
    else
      { apt-get -o DPkg::Lock::Timeout=300 update &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends debootstrap; } \
        >>"$log" 2>&1 || {
        ci_tail "$log"
        ci_die "apt-get install debootstrap failed"
      }
    fi
  fi
  mirror=$(ci_debian_mirror "$CI_BASE_SUITE")
  [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  root=$(mktemp -d "$CI_STATE_DIR/base-root.XXXXXX")
  printf '\n[ci] ==== debootstrap %s from %s at %s ====\n' "$CI_BASE_SUITE" "$mirror" "$(date -u +%FT%TZ)" >>"$log"
  debootstrap --variant=minbase --include=python3,ca-certificates "${keyring[@]}" \
    "$CI_BASE_SUITE" "$root" "$mirror" >>"$log" 2>&1 || rc=$?
  # debootstrap mounts /proc and /sys inside the tree; never leave them behind.
  local m
  for m in "$root/proc" "$root/sys" "$root/dev/pts"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  if ((rc != 0)); then
    ci_tail "$log"
    rm -rf --one-file-system "$root"
    ci_die "debootstrap $CI_BASE_SUITE from $mirror failed (exit $rc); log $log"
  fi
  # Trim what an image does not need: apt caches and lists, docs, man pages, locales, logs.
  rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/usr/share/lintian "$root"/var/log/* "$root"/tmp/* \
    "$root"/var/lib/dpkg/*-old
  # No timezone/hostname of this machine in the image.
  : >"$root/etc/hostname"
  rc=0
  tar -C "$root" --numeric-owner -c . |
    "$CI_DOCKER" import \
      -c 'ENV LANG=C.UTF-8' \
      -c 'CMD ["python3"]' \
      -c "LABEL org.opencontainers.image.title=logship-base org.opencontainers.image.description=\"debootstrap --variant=minbase --include=python3,ca-certificates $CI_BASE_SUITE $mirror\"" \
      -m "debootstrap $CI_BASE_SUITE minbase + python3, ca-certificates" - "$tag" >>"$log" 2>&1 || rc=$?
  rm -rf --one-file-system "$root"
  ((rc == 0)) || {
    ci_tail "$log"
    ci_die "docker import of $tag failed"
  }
  size=$("$CI_DOCKER" image inspect "$tag" --format '{{.Size}}')
  ci_done ensure_base_image "$t0" "imported $tag ($((size / 1000000)) MB, $("$CI_DOCKER" run --rm "$tag" python3 --version 2>&1)) from $mirror"
}

# ensure_wheels [DIR] [BASE_TAG]: the wheels of pyproject.toml's dependencies and build requirements,
# plus pip itself, for the Python and platform of the base image (not the host's). Skipped when DIR
# already holds them for the same pyproject.toml and target. Needs PyPI only when something changed.
ensure_wheels() {
  local dir=${1:-$CI_WHEELS_DIR} base=${2:-$CI_BASE_IMAGE} t0 target want have="" log reqs rc=0 count pyver glibc machine
  t0=$(ci_now_us)
  mkdir -p "$CI_LOG_DIR"
  log=$CI_LOG_DIR/wheels.log
  # Python version, glibc and machine of the base image: the wheels must fit it, not the host.
  target=$("$CI_DOCKER" run --rm --network none "$base" python3 -c \
    'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.libc_ver()[1].replace(".", "_"), platform.machine())') ||
    ci_die "cannot run python3 in $base"
  read -r pyver glibc machine <<<"$target"
  reqs=$("$CI_PYTHON" - "$CI_IMAGES_REPO_ROOT/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)
wanted = [*project["build-system"]["requires"], *project["project"]["dependencies"], "pip", "wheel"]
print("\n".join(wanted))
EOF
  ) || ci_die "cannot read the dependencies from pyproject.toml"
  want=$(printf '%s\n%s\n' "$target" "$reqs" | sha256sum | cut -c1-16)
  [[ -f $dir/.stamp ]] && have=$(<"$dir/.stamp")
  if [[ $have == "$want" && -f $dir/.python ]] && compgen -G "$dir/pip-*.whl" >/dev/null; then
    ci_done ensure_wheels "$t0" "$(find "$dir" -name '*.whl' | wc -l) wheels in $dir already fit (python $pyver, $machine)"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '\n[ci] ==== wheels for python %s %s glibc %s at %s ====\n' "$pyver" "$machine" "$glibc" "$(date -u +%FT%TZ)" >>"$log"
  # Every manylinux tag the base image's glibc accepts: pip (23.x) does not expand manylinux_2_Y itself.
  local platforms=() minor
  for ((minor = ${glibc#2_}; minor >= 5; minor--)); do
    platforms+=(--platform "manylinux_2_${minor}_${machine}")
  done
  platforms+=(--platform "manylinux2014_${machine}" --platform "manylinux2010_${machine}"
    --platform "manylinux1_${machine}" --platform "linux_${machine}")
  # A requirements file, not words: a requirement may carry an environment marker with spaces.
  printf '%s\n' "$reqs" >"$dir/.requirements.txt"
  PIP_ROOT_USER_ACTION=ignore "$CI_PYTHON" -m pip download --disable-pip-version-check --progress-bar off \
    --only-binary=:all: --python-version "$pyver" --implementation cp "${platforms[@]}" \
    -d "$dir" -r "$dir/.requirements.txt" >>"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    ci_tail "$log"
    rm -rf "$dir"
    ci_die "pip download of the wheels failed (exit $rc); log $log"
  fi
  echo "$want" >"$dir/.stamp"
  echo "$pyver" >"$dir/.python" # the Dockerfile uses the wheels only for this Python
  count=$(find "$dir" -name '*.whl' | wc -l)
  ci_done ensure_wheels "$t0" "downloaded $count wheels ($(du -sh "$dir" | cut -f1)) for python $pyver $machine into $dir"
}

# build_logship_image TAG [docker build args...]: the Dockerfile on the local base image, installing
# from the wheels (base and wheels made first when missing).
build_logship_image() {
  local tag=${1:?build_logship_image TAG} t0 log rc=0 size
  shift
  t0=$(ci_now_us)
  ensure_base_image "$CI_BASE_IMAGE"
  ensure_wheels "$CI_WHEELS_DIR" "$CI_BASE_IMAGE"
  mkdir -p "$CI_LOG_DIR"
  log=$CI_LOG_DIR/image-build.log
  [[ $CI_WHEELS_DIR -ef $CI_IMAGES_REPO_ROOT/dist/wheels ]] ||
    ci_die "the Dockerfile reads the wheels from dist/wheels/ of the build context, not $CI_WHEELS_DIR"
  printf '\n[ci] ==== docker build %s at %s ====\n' "$tag" "$(date -u +%FT%TZ)" >>"$log"
  # BuildKit: its cache lives in the builder (`docker builder prune`), not as images; the classic
  # builder would leave the first stage of every build behind as a dangling image.
  DOCKER_BUILDKIT=${CI_DOCKER_BUILDKIT:-1} "$CI_DOCKER" build --progress=plain --build-arg "BASE_IMAGE=$CI_BASE_IMAGE" \
    --label "org.opencontainers.image.revision=$(git -C "$CI_IMAGES_REPO_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$tag" "$@" "$CI_IMAGES_REPO_ROOT" >>"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    ci_tail "$log" 60
    ci_die "docker build of $tag failed (exit $rc); log $log"
  fi
  size=$("$CI_DOCKER" image inspect "$tag" --format '{{.Size}}')
  ci_done build_logship_image "$t0" "built $tag ($((size / 1000000)) MB) on $CI_BASE_IMAGE; log $log"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
  base) ensure_base_image "${2:-$CI_BASE_IMAGE}" ;;
  wheels) ensure_wheels "${2:-$CI_WHEELS_DIR}" ;;
  image)
    [[ -n ${2:-} ]] || ci_die "usage: $0 image TAG [docker build args...]"
    build_logship_image "${@:2}"
    ;;
  *)
    printf 'usage: %s base [TAG] | wheels [DIR] | image TAG [docker build args...]\n' "$0" >&2
    exit 2
    ;;
  esac
fi
