"""`evotraders deploy up|down`: the compose deployment (deploy/compose/compose.yaml).

``up`` makes the tokens secret if it is missing (fresh admin, operator and
viewer tokens and a run secret, 0600), hands the containers' user (uid 10001)
its own copy, builds the image if the engine has none (scripts/build_image.sh,
offline), runs the compose CLI (``docker compose`` when present, else
``docker-compose``) and waits until every service answers ``/health`` on its
published port. ``down`` stops runtime_service first (it stops its Gateway
containers), removes any Gateway container still on the deployment's network,
then ``down -v``: no container, network or volume is left.

Everything else is the compose file's: ports (AGENT_SERVICE_HOST_PORT, ...),
EVOTRADERS_PUBLISH_HOST, EVOTRADERS_IMAGE; see docs/deploy.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from backend.paths import PROJECT_ROOT
from backend.security.run_credentials import generate_run_secret

COMPOSE_FILE = PROJECT_ROOT / "deploy" / "compose" / "compose.yaml"
DEFAULT_TOKENS = PROJECT_ROOT / "deploy" / "compose" / "secrets" / "tokens.json"
CONTAINER_UID = 10001
DEFAULT_IMAGE = "evotraders/control-center:0.1.0"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SERVICES = {  # compose service -> (host port variable, default)
    "agent-service": ("AGENT_SERVICE_HOST_PORT", 8000),
    "trading-service": ("TRADING_SERVICE_HOST_PORT", 8001),
    "news-service": ("NEWS_SERVICE_HOST_PORT", 8002),
    "runtime-service": ("RUNTIME_SERVICE_HOST_PORT", 8003),
}
HEALTH_TIMEOUT_S = 180.0


class DeployError(RuntimeError):
    """A step of the deployment failed; the message says which and why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="evotraders",
                        help="deployment name: compose project, <name>-net network, <name>-data volume")
    sub = parser.add_subparsers(dest="deploy_command", required=True)
    up = sub.add_parser("up", help="start the compose deployment (makes the tokens secret if missing)")
    up.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS,
                    help=f"tokens file (made with fresh tokens if missing; default {DEFAULT_TOKENS})")
    up.add_argument("--no-wait", action="store_true", help="do not wait for the services' /health")
    up.set_defaults(func=guarded(deploy_up))
    down = sub.add_parser("down", help="remove the deployment: containers, network, volume")
    down.set_defaults(func=guarded(deploy_down))


def guarded(step):  # type: ignore[no-untyped-def]
    """``step`` reporting a DeployError as one line with status 2, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return step(args)
        except DeployError as err:
            print(f"evotraders deploy: {err}", file=sys.stderr)
            return 2
    return run


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise DeployError(f"invalid deployment name {name!r}: lowercase letters, digits and '-', 40 at most")
    return name


def compose_command() -> list[str]:
    """``docker compose`` (v2) when the docker CLI has it, else ``docker-compose`` (1.29)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise DeployError("no compose CLI: install Compose v2 (docker compose) or docker-compose")


def docker_socket() -> Path:
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        raise DeployError(f"DOCKER_HOST={host}: the deployment mounts the engine's socket, so it needs a local "
                          "unix:// engine")
    return Path(host[len("unix://"):] if host else "/var/run/docker.sock")


def write_private(path: Path, text: str, uid: int | None = None) -> None:
    """``text`` into ``path``, 0600 from creation, replaced atomically (optionally chowned first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if uid is not None:
            os.chown(tmp, uid, uid)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_tokens(path: Path) -> dict[str, str]:
    """The tokens in ``path``; a fresh file (every role and a run secret) when it does not exist."""
    if not path.exists():
        tokens = {role: secrets.token_urlsafe(24) for role in ("admin", "operator", "viewer")}
        tokens["run_secret"] = generate_run_secret()
        write_private(path, json.dumps(tokens, indent=2) + "\n")
        print(f"deploy: made {path} (fresh tokens; 0600)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DeployError(f"tokens file {path}: {err}") from None
    if not isinstance(data, dict) or not {"admin", "viewer"} <= set(data):
        raise DeployError(f"tokens file {path}: expected {{\"admin\": ..., \"operator\": ..., \"viewer\": ..., "
                          "\"run_secret\": ...}}")
    return data


def container_copy(path: Path, image: str) -> Path:
    """A copy of the tokens file owned by the containers' user (the services refuse one others can read)."""
    copy = path.with_name(path.stem + ".container" + path.suffix)
    text = path.read_text(encoding="utf-8")
    if os.geteuid() == 0:
        write_private(copy, text, uid=CONTAINER_UID)
        return copy
    write_private(copy, text)
    # Not root: the engine (which this user may drive anyway) hands the copy to uid 10001.
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "0", "-v", f"{copy.parent}:/s", image,
         "python", "-c", f"import os; os.chown('/s/{copy.name}', {CONTAINER_UID}, {CONTAINER_UID})"],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError(f"could not hand {copy} to uid {CONTAINER_UID}: {result.stderr.strip()[-300:]}")
    return copy


def image_present(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


def staging_dir(name: str) -> Path:
    """Where runtime_service stages skills for the docker sandbox: the same path on the host and inside."""
    override = os.environ.get("EVOTRADERS_STAGING_DIR")
    return Path(override) if override else Path(tempfile.gettempdir()) / f"evotraders-staging-{name}"


def ensure_staging(path: Path) -> None:
    """The staging folder, writable by uid 10001 only (root hands it over; anyone else gets a /tmp-like 1777)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
        path.chmod(0o700)
    elif path.stat().st_uid == os.geteuid():
        path.chmod(0o1777)


def compose_env(name: str, tokens_secret: Path | None = None) -> dict[str, str]:
    socket_path = docker_socket()
    env = {**os.environ, "EVOTRADERS_DEPLOY_NAME": name, "DOCKER_SOCKET": str(socket_path),
           "EVOTRADERS_STAGING_DIR": str(staging_dir(name))}
    if "DOCKER_GID" not in os.environ and socket_path.exists():
        env["DOCKER_GID"] = str(socket_path.stat().st_gid)
    if tokens_secret is not None:
        env["EVOTRADERS_TOKENS_SECRET"] = str(tokens_secret)
    elif "EVOTRADERS_TOKENS_SECRET" not in env:
        # `stop` and `down` read the file too but need no secret: any existing file quiets compose.
        env["EVOTRADERS_TOKENS_SECRET"] = str(COMPOSE_FILE)
    return env


def run_compose(name: str, env: dict[str, str], *args: str) -> None:
    argv = [*compose_command(), "--project-name", name, "--file", str(COMPOSE_FILE), *args]
    result = subprocess.run(argv, env=env)
    if result.returncode != 0:
        raise DeployError(f"`{' '.join(argv[:2])} ... {' '.join(args)}` failed with status {result.returncode}")


def service_urls(env: dict[str, str]) -> dict[str, str]:
    host = env.get("EVOTRADERS_PUBLISH_HOST") or "127.0.0.1"
    host = "127.0.0.1" if host == "0.0.0.0" else host
    return {svc: f"http://{host}:{env.get(var) or default}" for svc, (var, default) in SERVICES.items()}


def wait_healthy(urls: dict[str, str], timeout: float = HEALTH_TIMEOUT_S) -> None:
    pending = dict(urls)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for svc, url in list(pending.items()):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
                    if response.status == 200:
                        print(f"deploy: {svc} healthy at {url}")
                        del pending[svc]
            except OSError:
                pass
        if pending:
            time.sleep(1.0)
    if pending:
        raise DeployError(f"not healthy after {timeout:.0f} s: {', '.join(pending)} "
                          f"(see `{' '.join(compose_command())} -p <name> logs`)")


def deploy_up(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    image = os.environ.get("EVOTRADERS_IMAGE") or DEFAULT_IMAGE
    if not image_present(image):
        script = PROJECT_ROOT / "scripts" / "build_image.sh"
        if not script.exists():
            raise DeployError(f"image {image} is not on the engine and {script} is missing to build it")
        print(f"deploy: building {image} (scripts/build_image.sh, offline)")
        if subprocess.run(["bash", str(script)]).returncode != 0:
            raise DeployError(f"building {image} failed")
    tokens_path = args.tokens.expanduser().absolute()
    ensure_tokens(tokens_path)
    env = compose_env(name, container_copy(tokens_path, image))
    ensure_staging(Path(env["EVOTRADERS_STAGING_DIR"]))
    run_compose(name, env, "up", "--detach", "--remove-orphans")
    urls = service_urls(env)
    if not args.no_wait:
        wait_healthy(urls)
    print(f"deploy: {name} is up; tokens in {tokens_path}")
    for svc, url in urls.items():
        print(f"  {svc:16} {url}")
    return 0


def deploy_down(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    env = compose_env(name)
    # runtime_service first: on SIGTERM it stops (and removes) the Gateway containers it started.
    run_compose(name, env, "stop", "runtime-service")
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", f"network={name}-net"],
                               capture_output=True, text=True).stdout.split()
    if leftovers:
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True)
    run_compose(name, env, "down", "--volumes", "--remove-orphans")
    shutil.rmtree(env["EVOTRADERS_STAGING_DIR"], ignore_errors=True)
    print(f"deploy: {name} removed (containers, network {name}-net, volume {name}-data)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evotraders deploy")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
