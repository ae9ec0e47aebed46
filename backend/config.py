"""Settings: one pydantic-settings model read from the environment and `.env`.

Invalid values are reported by :func:`load_settings` as one line naming the
variable (``SettingsError``), never as a traceback. An empty variable means
"not set" for a setting that may be unset. :func:`settings_to_env` turns
settings back into the variables that reproduce them in a child process.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

from backend.paths import PROJECT_ROOT
from backend.schema.sandbox import SandboxMode

DEFAULT_TICKERS = ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META"]
TICKER_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
MEMORY_RE = re.compile(r"^\d+(\.\d+)?[kmgKMG]?$")
PUBLIC_URL_RE = re.compile(r"^wss?://[^\s/]+(/\S*)?$")


class SettingsError(ValueError):
    """A setting has an invalid value; ``str(err)`` is one line naming it."""


class Settings(BaseSettings):
    """Every knob of the runtime, from the environment (or `.env`)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_parse_none_str="",  # FOO= unsets FOO (how settings_to_env hands a child "None")
    )

    # Service ports and bind host.
    agent_service_port: int = Field(8000, ge=1, le=65535)
    trading_service_port: int = Field(8001, ge=1, le=65535)
    news_service_port: int = Field(8002, ge=1, le=65535)
    runtime_service_port: int = Field(8003, ge=1, le=65535)
    gateway_port: int = Field(8765, ge=1, le=65535)
    # Bytes of events that may wait for one Gateway client that does not read
    # before it is closed with 1013 (see gateway/hub.py).
    gateway_client_queue_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024)
    evotraders_host: str = "127.0.0.1"
    # The local stack forks its services (and their Gateways) from one process that
    # imported their common modules once (backend/supervisor/forkserver.py); off: fresh interpreters.
    stack_preload: bool = True

    # Service discovery (derived from host and ports when unset).
    agent_service_url: str | None = None
    trading_service_url: str | None = None
    news_service_url: str | None = None
    runtime_service_url: str | None = None

    # Data roots.
    runs_dir: Path = PROJECT_ROOT / "runs"
    workspaces_dir: Path = PROJECT_ROOT / "workspaces"
    enable_dashboard_compat_exports: bool = True

    # Skill sandbox (see backend/sandbox/).
    skill_sandbox_mode: SandboxMode = "none"
    skill_sandbox_image: str = "python:3.11-slim"
    skill_sandbox_memory_limit: str = "512m"
    skill_sandbox_cpu_limit: float = Field(1.0, gt=0, le=64)
    skill_sandbox_network: str = "none"
    skill_sandbox_timeout: float = Field(60.0, gt=0, le=3600)
    skill_sandbox_pull_policy: Literal["missing", "never"] = "never"
    skill_sandbox_namespace: str = "evotraders"
    skill_sandbox_kube_context: str | None = None
    skill_sandbox_service_account: str | None = None

    # Where each run's Gateway runs (see backend/control_plane/gateway_launchers/).
    gateway_launcher: Literal["subprocess", "docker", "kubernetes"] = "subprocess"
    # The URL clients reach a Gateway at: a template with {run_id}, {port} and {host}.
    gateway_public_url: str | None = None
    gateway_image: str = "evotraders/control-center:0.1.0"
    gateway_docker_network: str | None = None
    gateway_docker_volume: str | None = None
    gateway_publish_host: str = "127.0.0.1"
    # Gateway containers whose skills run in the docker sandbox get the engine's socket (its HOST path;
    # default: the path of this process's unix:// DOCKER_HOST) and a staging folder at the same path on
    # the host and inside (default: made under this machine's temp folder when runtime_service runs here).
    gateway_docker_socket: str | None = None
    gateway_docker_staging_dir: Path | None = None
    gateway_namespace: str = "evotraders"
    gateway_kube_context: str | None = None
    gateway_service_account: str | None = None

    # Trading.
    initial_cash: float = Field(100_000.0, gt=0)
    margin_requirement: float = Field(0.0, ge=0, le=1)
    max_comm_cycles: int = Field(2, ge=0, le=10)
    tickers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_TICKERS))

    # Models (llm agents talk to an OpenAI-compatible endpoint; rules agents need none).
    model_name: str = "gpt-4o-mini"
    openai_api_key: str | None = None
    openai_base_url: str = "http://127.0.0.1:11434/v1"
    # llm agents: one request's timeout, the client's retries (back-off honouring Retry-After),
    # how many agents of a day ask at once, the tool-calling steps of one turn, reflections retrieved.
    llm_timeout_seconds: float = Field(30.0, gt=0, le=600)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_max_concurrency: int = Field(4, ge=1, le=64)
    llm_max_tool_steps: int = Field(4, ge=1, le=20)
    llm_memory_entries: int = Field(5, ge=0, le=50)
    # Per-agent models as one setting a child process inherits (JSON: {"technical_analyst": "qwen2.5:7b"});
    # AGENT_<ID>_MODEL_NAME still wins for its agent.
    agent_models: dict[str, str] = Field(default_factory=dict)
    finnhub_api_key: str | None = None
    finnhub_base_url: str = "https://finnhub.io/api/v1"

    # Tokens (roles: viewer < operator < admin).
    evotraders_admin_token: str | None = None
    evotraders_operator_token: str | None = None
    evotraders_viewer_token: str | None = None
    evotraders_tokens_file: Path | None = None

    @field_validator("agent_models", mode="before")
    @classmethod
    def _no_agent_models(cls, value: object) -> object:
        return {} if value is None else value  # AGENT_MODELS= means none

    @field_validator("tickers", mode="before")
    @classmethod
    def _split_tickers(cls, value: object) -> object:
        if isinstance(value, str):
            value = [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("tickers")
    @classmethod
    def _check_tickers(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one ticker is required")
        bad = [t for t in value if not TICKER_RE.match(t)]
        if bad:
            raise ValueError(f"invalid ticker symbol(s): {', '.join(bad)}")
        return value

    @field_validator("runs_dir", "workspaces_dir", "evotraders_tokens_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # A child process runs in the project root: a relative path would name another folder there.
        return None if value is None else value.expanduser().absolute()

    @field_validator("skill_sandbox_memory_limit")
    @classmethod
    def _check_memory(cls, value: str) -> str:
        if not MEMORY_RE.match(value):
            raise ValueError("expected a size like 512m or 1g")
        return value

    @field_validator("gateway_public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not PUBLIC_URL_RE.match(value):
            raise ValueError("expected a ws:// or wss:// URL template")
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - {"run_id", "port", "host"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join(sorted(unknown))}; use {{run_id}}, {{port}}, {{host}}")
        return value

    @model_validator(mode="after")
    def _derive_urls(self) -> "Settings":
        host = self.evotraders_host if self.evotraders_host not in ("0.0.0.0", "::") else "127.0.0.1"
        self.agent_service_url = self.agent_service_url or f"http://{host}:{self.agent_service_port}"
        self.trading_service_url = self.trading_service_url or f"http://{host}:{self.trading_service_port}"
        self.news_service_url = self.news_service_url or f"http://{host}:{self.news_service_port}"
        self.runtime_service_url = self.runtime_service_url or f"http://{host}:{self.runtime_service_port}"
        return self

    def agent_model(self, agent_id: str) -> str:
        """The model name for one agent: ``AGENT_<ID>_MODEL_NAME``, else ``AGENT_MODELS[id]``, else ``MODEL_NAME``."""
        import os

        return (os.environ.get(f"AGENT_{agent_id.upper()}_MODEL_NAME") or self.agent_models.get(agent_id)
                or self.model_name)


# Credentials a parent hands a child explicitly (TokenRegistry.as_env), never with the other settings.
TOKEN_FIELDS = frozenset({"evotraders_admin_token", "evotraders_operator_token", "evotraders_viewer_token",
                          "evotraders_tokens_file"})


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field (its alias, else its name)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return (alias or (Settings.model_config.get("env_prefix", "") + field)).upper()


def env_value(field: str, value: object) -> str:
    """``value`` written so that Settings parses it back to an equal value."""
    if value is None:
        return ""  # env_parse_none_str
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, dict)):
        if NoDecode in Settings.model_fields[field].metadata:  # parsed by the field's own validator
            return ",".join(str(v) for v in value)
        return json.dumps(value if not isinstance(value, (tuple, set)) else list(value))
    return str(value)


def settings_to_env(settings: Settings, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every field of ``settings`` as environment variables (unset ones as empty strings)."""
    return {env_name(f): env_value(f, getattr(settings, f)) for f in Settings.model_fields if f not in exclude}


def settings_digest(settings: Settings) -> str:
    """A SHA-256 of every setting but the tokens: two processes with equal digests see equal settings.

    The Gateway reports it in ``/health``, so a parent can check that a child got every setting.
    """
    # From the values themselves, not from settings_to_env: the digest checks that serialisation.
    values = settings.model_dump(mode="json", exclude=set(TOKEN_FIELDS))
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode("utf-8")).hexdigest()


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "settings"
    value = first.get("input")
    shown = f" (got {value!r})" if isinstance(value, (str, int, float)) else ""
    return f"invalid setting {field.upper()}: {first.get('msg', 'invalid value')}{shown}"


def load_settings(**overrides: object) -> Settings:
    """Build :class:`Settings`, turning validation errors into a one-line ``SettingsError``."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached); tests build their own with :func:`load_settings`."""
    return load_settings()
