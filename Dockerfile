# logship: one container per Docker host (or a global Swarm service) that follows every container's
# logs through the Engine API. See docs/deploy.md.
#
#   docker build -t logship .                                   # with a registry: python:3.12-slim, PyPI
#   bash .ci/images.sh image logship:dev                        # without one: the same Dockerfile on a
#        # base image made by debootstrap (logship-base:bookworm) and wheels downloaded on the host into
#        # dist/wheels/, i.e. docker build --build-arg BASE_IMAGE=logship-base:bookworm -t logship:dev .
#
# Package sources: when the build context has wheels in dist/wheels/ made for the base image's
# Python (pip's own wheel among them; dist/wheels/.python names that Python), they are the only
# source (pip --no-index --find-links); otherwise pip installs from its index, with the base
# image's pip and ensurepip (python:*-slim has both).
#
# No "# syntax=" line on purpose: it would make BuildKit pull a frontend image. Works with BuildKit
# (DOCKER_BUILDKIT=1, what .ci/images.sh uses) and with the classic builder of Docker 20.10.

ARG BASE_IMAGE=python:3.12-slim

# ---------------------------------------------------------------- build: a venv in /opt/logship
FROM ${BASE_IMAGE} AS build

# Extras of pyproject.toml to install too, comma separated (e.g. "zstd" for zstd compression).
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# The dependencies first, in their own layer: it stays cached while pyproject.toml and the wheels do
# not change. `dis[t]` copies dist/ (only dist/wheels/ passes .dockerignore) when it exists and is
# no error when it does not, with either builder.
COPY pyproject.toml dis[t] /build/
# The wheels are used when they were made for this base's Python (wheels/.python, written by
# .ci/images.sh); offline, pip runs from its own wheel (Debian's minbase python3 has neither pip nor
# ensurepip). /build/pip-install is the pip command of this build either way.
RUN set -eu; \
    cd /build; \
    python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
    if ls wheels/pip-*.whl >/dev/null 2>&1 && [ "$(cat wheels/.python 2>/dev/null)" = "$python" ]; then \
        python3 -m venv --without-pip /opt/logship; \
        pip_wheel=$(ls wheels/pip-*.whl | sort -V | tail -n 1); \
        printf '#!/bin/sh\nexec /opt/logship/bin/python /build/%s/pip install --no-index --find-links /build/wheels "$@"\n' \
            "$pip_wheel" >/build/pip-install; \
    else \
        if [ -d wheels ]; then echo "dist/wheels/ is not for python $python: installing from the index"; fi; \
        python3 -m venv /opt/logship; \
        printf '#!/bin/sh\nexec /opt/logship/bin/python -m pip install "$@"\n' >/build/pip-install; \
    fi; \
    chmod +x /build/pip-install; \
    python3 -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + [r for e in sys.argv[1].split(",") if e.strip() for r in p["optional-dependencies"][e.strip()]]))' \
        "$EXTRAS" >/build/requirements.txt
RUN /build/pip-install -r /build/requirements.txt

# Then logship itself (built from the source here, setuptools from the wheels or the index).
COPY pyproject.toml README.md /build/src/
COPY logship /build/src/logship
RUN set -eu; \
    /build/pip-install --no-deps /build/src; \
    /opt/logship/bin/python -m pip --version >/dev/null 2>&1 && /opt/logship/bin/python -m pip uninstall -q -y pip || true; \
    rm -rf /opt/logship/bin/pip* /opt/logship/bin/Activate.ps1 /opt/logship/bin/activate*; \
    /opt/logship/bin/logship version

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="logship" \
      org.opencontainers.image.description="Ships every Docker and Swarm container's logs to a central store, without losing a line." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/deploy.md"

# A fixed uid/gid, so that volumes and socket permissions can be planned: logship (10001). The
# Docker socket is root:docker 0660 on most hosts, with a gid that differs from host to host: give
# the container that gid (`--group-add $(stat -c %g /var/run/docker.sock)`, or in compose
# `user: "10001:${DOCKER_GID}"`); a 0600 socket needs root (`--user 0`). See docs/deploy.md.
# No setuid/setgid programs are left (su, passwd, mount, …): nothing in the image can gain privileges.
RUN set -eu; \
    echo 'logship:x:10001:10001:logship:/var/lib/logship:/usr/sbin/nologin' >>/etc/passwd; \
    echo 'logship:x:10001:' >>/etc/group; \
    mkdir -p /var/lib/logship; \
    chown 10001:10001 /var/lib/logship; \
    chmod 0750 /var/lib/logship; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +

COPY --from=build /opt/logship /opt/logship

# Nothing is written outside LOGSHIP_DATA_DIR (/var/lib/logship, the default) and /tmp: the root
# filesystem may be read-only (`--read-only --tmpfs /tmp`); Python's bytecode is compiled already.
ENV PATH=/opt/logship/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /var/lib/logship
VOLUME /var/lib/logship
# Health (/healthz, /readyz) and Prometheus metrics (/metrics), LOGSHIP_LISTEN.
EXPOSE 9880

# /healthz at LOGSHIP_LISTEN, on loopback when it listens on every address (no curl in the image:
# Python's urllib). One line of error output when it fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request\nhost, _, port = os.environ.get('LOGSHIP_LISTEN', '0.0.0.0:9880').rpartition(':')\nhost = host.strip('[]')\nhost = {'': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '::1'}.get(host, host)\nurl = 'http://%s:%s/healthz' % ('[%s]' % host if ':' in host else host, port)\ntry:\n    urllib.request.urlopen(url, timeout=4)\nexcept Exception as exc:\n    raise SystemExit('%s: %s' % (url, exc))"]

# The first SIGTERM drains (LOGSHIP_SHUTDOWN_TIMEOUT, keep it below the stop timeout), exit code 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["logship"]
CMD ["run"]
