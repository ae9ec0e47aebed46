#!/usr/bin/env bash
# Start a private Docker engine for the skill sandbox and build the skill image
# offline (no registry needed). Idempotent: a running engine and an existing
# image are reused. Run as root.
#
#   sudo scripts/docker_sandbox_setup.sh
#   export DOCKER_HOST=unix:///tmp/evotraders-docker/docker.sock
#   sudo scripts/docker_sandbox_setup.sh --stop    # stop that engine again
#
# Environment:
#   EVOTRADERS_DOCKER_ROOT     state folder (default /tmp/evotraders-docker)
#   EVOTRADERS_SANDBOX_IMAGE   image tag (default evotraders/skill-python:3.11)
#   EVOTRADERS_SANDBOX_PYTHON  host interpreter copied into the image
#                              (default /usr/bin/python3.11)
#   EVOTRADERS_DOCKER_STORAGE_DRIVER  force a storage driver (default: let
#                              dockerd choose, retry with vfs if that fails)
#   EVOTRADERS_REBUILD_IMAGE=1 rebuild the image even if it exists
set -euo pipefail

ROOT="${EVOTRADERS_DOCKER_ROOT:-/tmp/evotraders-docker}"
IMAGE="${EVOTRADERS_SANDBOX_IMAGE:-evotraders/skill-python:3.11}"
PY="${EVOTRADERS_SANDBOX_PYTHON:-/usr/bin/python3.11}"
SOCK="$ROOT/docker.sock"
PIDFILE="$ROOT/dockerd.pid"
LOG="$ROOT/dockerd.log"
export DOCKER_HOST="unix://$SOCK"

say() { echo "[docker_sandbox_setup] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (dockerd needs it): sudo $0"

if [ "${1:-}" = "--stop" ]; then
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        pid=$(cat "$PIDFILE")
        kill "$pid"
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        say "dockerd $pid stopped"
    else
        say "no engine running from $ROOT"
    fi
    # dockerd leaves its data root mounted on itself.
    while mountpoint -q "$ROOT/data" 2>/dev/null; do umount "$ROOT/data" || break; done
    exit 0
fi
command -v dockerd >/dev/null || die "dockerd not found; install it first: apt-get install -y docker.io"

if [ ! -x "$PY" ]; then
    # Needed for the image anyway (and to talk to the engine below).
    # python3.11, not python3-minimal: json and friends live in libpython3.11-stdlib.
    say "$PY missing; installing Debian's python3.11"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 >/dev/null \
        || say "could not install python3.11 with apt-get"
fi
if [ ! -x "$PY" ] && command -v python3.11 >/dev/null; then
    # Any other CPython 3.11 works too (pyenv, /usr/local): resolve shims to the binary.
    PY=$(python3.11 -I -c 'import os, sys; print(os.path.realpath(sys.executable))')
    say "using $PY"
fi
[ -x "$PY" ] || die "no Python 3.11 interpreter to build the image from; set EVOTRADERS_SANDBOX_PYTHON"

# Talk to the engine without curl: HTTP over the unix socket from Python.
engine_answers() {
    "$PY" -I - "$SOCK" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
data = s.recv(4096)
sys.exit(0 if b" 200 " in data.split(b"\r\n", 1)[0] + b" " else 1)
EOF
}

wait_engine() {  # $1 = pid; 0 when it answers, 1 when it died or timed out
    for _ in $(seq 1 120); do
        engine_answers && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.25
    done
    return 1
}

stop_engine() {  # $1 = pid
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.25; done
    kill -9 "$1" 2>/dev/null || true
}

start_engine() {  # extra dockerd flags as arguments; prints the pid
    mkdir -p "$ROOT/data" "$ROOT/exec"
    rm -f "$SOCK" "$PIDFILE"
    nohup dockerd \
        --data-root "$ROOT/data" --exec-root "$ROOT/exec" \
        -H "unix://$SOCK" --pidfile "$PIDFILE" \
        --userland-proxy=false "$@" >>"$LOG" 2>&1 </dev/null &
    echo $!
}

if engine_answers; then
    say "engine already answers on $SOCK"
else
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        say "stale dockerd $(cat "$PIDFILE") does not answer; stopping it"
        stop_engine "$(cat "$PIDFILE")"
    fi
    mkdir -p "$ROOT"
    : >"$LOG"
    driver=()
    [ -n "${EVOTRADERS_DOCKER_STORAGE_DRIVER:-}" ] && driver=(--storage-driver "$EVOTRADERS_DOCKER_STORAGE_DRIVER")
    # Attempts, most capable first: the sandbox itself uses network "none",
    # so an engine without a bridge (no iptables) is still fully usable.
    started=""
    for attempt in "default" "nobridge" "vfs"; do
        case "$attempt" in
            default)  flags=("${driver[@]}") ;;
            nobridge) flags=("${driver[@]}" --iptables=false --ip6tables=false --bridge=none) ;;
            vfs)      flags=(--storage-driver vfs --iptables=false --ip6tables=false --bridge=none) ;;
        esac
        say "starting dockerd ($attempt) ..."
        pid=$(start_engine "${flags[@]}")
        if wait_engine "$pid"; then started="$attempt"; break; fi
        say "dockerd ($attempt) did not come up; last log lines:"
        tail -n 5 "$LOG" >&2 || true
        stop_engine "$pid"
    done
    [ -n "$started" ] || die "dockerd would not start; see $LOG"
    say "engine up ($started), log in $LOG"
fi

image_exists() {
    "$PY" -I - "$SOCK" "$IMAGE" <<'EOF' >/dev/null 2>&1
import socket, sys, urllib.parse
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
name = urllib.parse.quote(sys.argv[2], safe="")
s.sendall(f"GET /images/{name}/json HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
sys.exit(0 if b" 200 " in s.recv(4096).split(b"\r\n", 1)[0] + b" " else 1)
EOF
}

if image_exists && [ "${EVOTRADERS_REBUILD_IMAGE:-0}" != 1 ]; then
    say "image $IMAGE already present"
else
    command -v docker >/dev/null || die "the docker CLI is needed to import the image (apt-get install -y docker.io)"
    rootfs="$ROOT/rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"/{etc,tmp,usr/bin,skill,sandbox}
    chmod 1777 "$rootfs/tmp"
    # Mirror merged-/usr symlinks first (/lib -> usr/lib ...) so that library
    # paths such as /lib64/ld-linux-x86-64.so.2 resolve inside the image too.
    for link in /lib /lib32 /lib64 /libx32 /bin /sbin; do
        if [ -L "$link" ]; then
            target=$(readlink "$link")
            mkdir -p "$rootfs/${target#/}"
            ln -s "$target" "$rootfs$link"
        fi
    done
    # The interpreter, its standard library and every shared library that it
    # or its extension modules link against, at their host paths.
    stdlib=$("$PY" -I -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    dynload=$("$PY" -I -c 'import sysconfig; print(sysconfig.get_config_var("DESTSHARED") or "")')
    realpy=$(readlink -f "$PY")
    copy_path() { mkdir -p "$rootfs$(dirname "$1")"; cp -a "$1" "$rootfs$1"; }
    copy_path "$realpy"
    [ "$realpy" = /usr/bin/python3 ] || ln -sf "$realpy" "$rootfs/usr/bin/python3"
    mkdir -p "$rootfs$(dirname "$stdlib")"
    tar -C "$(dirname "$stdlib")" -c \
        --exclude='test' --exclude='tests' --exclude='idlelib' --exclude='tkinter' \
        --exclude='turtledemo' --exclude='ensurepip' --exclude='__pycache__' \
        --exclude='site-packages' --exclude='dist-packages' \
        "$(basename "$stdlib")" | tar -C "$rootfs$(dirname "$stdlib")" -x
    if [ -n "$dynload" ] && [ -d "$dynload" ] && [ ! -d "$rootfs$dynload" ]; then copy_path "$dynload"; fi
    libs=$( { ldd "$realpy"; find "$rootfs$stdlib" ${dynload:+"$rootfs$dynload"} -name '*.so' \
              -exec sh -c 'ldd "$1" 2>/dev/null' _ {} \; ; } \
            | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}' | grep '^/' | sort -u)
    for lib in $libs; do
        [ -e "$rootfs$lib" ] && continue
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    # Smoke test the rootfs before importing it (chroot is cheap and offline).
    chroot "$rootfs" /usr/bin/python3 -I -c 'import json, resource, socket, traceback' \
        || die "the copied interpreter does not start in $rootfs"
    say "importing $IMAGE ($(du -sh "$rootfs" | cut -f1))"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'USER 65534:65534' \
        --change 'WORKDIR /tmp' \
        --change 'CMD ["/usr/bin/python3"]' \
        - "$IMAGE" >/dev/null
    rm -rf "$rootfs"
    say "image $IMAGE built"
fi

echo "export DOCKER_HOST=unix://$SOCK"
