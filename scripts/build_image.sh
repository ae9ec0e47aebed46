#!/usr/bin/env bash
# Build evotraders/control-center:0.1.0 (deploy/container/Dockerfile) offline:
# no image is pulled, no registry is needed.
#
#   export DOCKER_HOST=unix:///tmp/evotraders-docker/docker.sock   # any engine
#   scripts/build_image.sh            # prints the image name when it is ready
#
# 1. The base: evotraders/python-base:3.11, made FROM scratch out of the host's
#    Debian python3.11, its standard library and the shared libraries it and
#    the dependency wheels link against (as scripts/docker_sandbox_setup.sh
#    makes the skill image). Made once; EVOTRADERS_IMAGE_BASE=python:3.11-slim
#    uses that instead (for a machine with a registry).
# 2. The context (deploy/container/build_context.py): the project's wheels,
#    fetched through pip into a cache on the host (PyPI or pip's local indexes)
#    and pinned to the versions installed in .venv, plus the app's sources.
# 3. docker build --build-arg BASE=... ; pip installs with --no-index.
# Cached: an image whose io.evotraders.content-hash label equals the context's
# hash is kept as it is (seconds). EVOTRADERS_REBUILD_IMAGE=1 rebuilds anyway.
#
# Environment:
#   EVOTRADERS_IMAGE        image tag (default evotraders/control-center:0.1.0)
#   EVOTRADERS_IMAGE_BASE   base image (default evotraders/python-base:3.11, built here)
#   EVOTRADERS_BASE_PYTHON  host interpreter copied into the base (default /usr/bin/python3.11)
#   EVOTRADERS_WHEEL_CACHE  wheel cache (default ~/.cache/evotraders/image-wheels)
#   EVOTRADERS_BUILD_PYTHON interpreter whose installed versions pin the image (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

IMAGE="${EVOTRADERS_IMAGE:-evotraders/control-center:0.1.0}"
LOCAL_BASE="evotraders/python-base:3.11"
BASE="${EVOTRADERS_IMAGE_BASE:-$LOCAL_BASE}"
HOST_PY="${EVOTRADERS_BASE_PYTHON:-/usr/bin/python3.11}"
CACHE="${EVOTRADERS_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/evotraders/image-wheels}"
BUILD_PY="${EVOTRADERS_BUILD_PYTHON:-$ROOT/.venv/bin/python}"
HASH_LABEL="io.evotraders.content-hash"

say() { echo "[build_image] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

command -v docker >/dev/null || die "the docker CLI is needed (apt-get install -y docker.io)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); sudo scripts/docker_sandbox_setup.sh starts one"
[ -x "$BUILD_PY" ] || die "$BUILD_PY missing: run ./dev --version once (it creates .venv)"

label_of() {  # $1 image, $2 label; empty when the image or the label is missing
    docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

build_local_base() {
    [ -x "$HOST_PY" ] || die "$HOST_PY missing (apt-get install -y python3.11) or set EVOTRADERS_BASE_PYTHON"
    local realpy version stdlib rootfs libs
    realpy=$(readlink -f "$HOST_PY")
    version=$("$HOST_PY" -I -c 'import sys; print(sys.version.split()[0])')
    local base_hash
    # Contents only (not paths): the same interpreter and script give the same base, however invoked.
    base_hash=$( { echo "$version"; sha256sum <"$realpy"; sha256sum <"$ROOT/scripts/build_image.sh"; } \
                 | sha256sum | cut -c1-64)
    if [ "$(label_of "$LOCAL_BASE" "$HASH_LABEL")" = "$base_hash" ]; then
        say "base $LOCAL_BASE up to date"
        return
    fi
    say "making $LOCAL_BASE from $realpy ($version)"
    stdlib=$("$HOST_PY" -I -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/evotraders-base.XXXXXX")
    trap 'rm -rf "$rootfs"' RETURN
    mkdir -p "$rootfs"/{etc,tmp,usr/bin,usr/local/bin,usr/sbin,etc/ssl/certs}
    chmod 1777 "$rootfs/tmp"
    # Merged-/usr symlinks first (/lib -> usr/lib ...), so /lib64/ld-linux-x86-64.so.2 resolves.
    for link in /lib /lib32 /lib64 /libx32 /bin /sbin; do
        if [ -L "$link" ]; then
            mkdir -p "$rootfs/$(readlink "$link" | sed 's#^/##')"
            ln -s "$(readlink "$link")" "$rootfs$link"
        fi
    done
    cp -a "$realpy" "$rootfs$realpy"
    ln -sf "$realpy" "$rootfs/usr/bin/python3"
    ln -sf "$realpy" "$rootfs/usr/local/bin/python"
    ln -sf "$realpy" "$rootfs/usr/local/bin/python3"
    # The standard library (with venv, without tests, IDLE, Tk and ensurepip).
    mkdir -p "$rootfs$(dirname "$stdlib")"
    tar -C "$(dirname "$stdlib")" -c \
        --exclude='test' --exclude='tests' --exclude='idlelib' --exclude='tkinter' \
        --exclude='turtledemo' --exclude='ensurepip' --exclude='__pycache__' \
        --exclude='site-packages' --exclude='dist-packages' \
        "$(basename "$stdlib")" | tar -C "$rootfs$(dirname "$stdlib")" -x
    # A shell for `docker exec ... sh` and shell-form commands.
    if [ -x /bin/dash ]; then cp -L /bin/dash "$rootfs/usr/bin/dash"; ln -sf dash "$rootfs/usr/bin/sh"; fi
    [ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
    # Every shared library the interpreter, its extension modules and the shell link
    # against, plus the C++ runtime the dependency wheels (numpy, pydantic-core, ...) expect.
    libs=$( { ldd "$realpy"; [ -x /bin/dash ] && ldd /bin/dash;
              find "$rootfs$stdlib" -name '*.so' -exec sh -c 'ldd "$1" 2>/dev/null' _ {} \; ;
              # glibc whole (wheels link libpthread, librt, ... that Python itself does not),
              # the C++ runtime and zlib that manylinux wheels expect of the system.
              if command -v dpkg >/dev/null; then
                  dpkg -L libc6 libgcc-s1 libstdc++6 zlib1g 2>/dev/null | grep -E '/lib[^/]*/.*\.so' \
                      | grep -vE 'gconv|audit' | sed 's/^/x => /'
              else
                  for extra in libpthread.so.0 librt.so.1 libdl.so.2 libutil.so.1 libresolv.so.2 \
                               libnss_files.so.2 libnss_dns.so.2 libgcc_s.so.1 libstdc++.so.6 libz.so.1; do
                      ldconfig -p | awk -v n="$extra" '$1 == n && /x86-64/ {print "x => " $NF; exit}'
                  done
              fi; } \
            | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}' | grep '^/' | sort -u)
    for lib in $libs; do
        [ -e "$rootfs$lib" ] || [ -L "$rootfs$lib" ] && continue
        [ -f "$lib" ] || continue
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $HASH_LABEL=$base_hash" \
        --change 'CMD ["python3"]' \
        - "$LOCAL_BASE" >/dev/null
    docker run --rm --network none "$LOCAL_BASE" python3 -I -c 'import ssl, ctypes, venv, zlib, json, socket' \
        || die "the base image's interpreter does not start"
    say "base $LOCAL_BASE made ($(du -sh "$rootfs" | cut -f1))"
}

if [ "$BASE" = "$LOCAL_BASE" ]; then
    build_local_base
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/evotraders-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
content_hash=$("$BUILD_PY" deploy/container/build_context.py "$context" "$CACHE")
# The base is part of the content: a new base means a new image.
content_hash=$(printf '%s %s\n' "$content_hash" "$(docker image inspect --format '{{.Id}}' "$BASE" 2>/dev/null || echo "$BASE")" \
               | sha256sum | cut -c1-64)

if [ "$(label_of "$IMAGE" "$HASH_LABEL")" = "$content_hash" ] && [ "${EVOTRADERS_REBUILD_IMAGE:-0}" != 1 ]; then
    say "$IMAGE up to date ($content_hash)"
    echo "$IMAGE"
    exit 0
fi
say "building $IMAGE on $BASE"
# The legacy builder (no BuildKit here); --pull=false: never fetch the base.
DOCKER_BUILDKIT=0 docker build --quiet --pull=false \
    --build-arg "BASE=$BASE" --build-arg "CONTENT_HASH=$content_hash" \
    --label "$HASH_LABEL=$content_hash" \
    -t "$IMAGE" "$context" >/dev/null
say "$IMAGE built ($content_hash)"
echo "$IMAGE"
