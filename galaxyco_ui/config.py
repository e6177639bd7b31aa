"""Typed configuration: the only module that reads environment variables.

Every setting has a safe default for the embedded mode (`make run`): SQLite and
everything in-process under ``data/``. Setting ``DATABASE_URL`` / ``REDIS_URL``
moves a concern to PostgreSQL / Redis without any change in the callers.

Nothing here raises at import time. ``get_settings()`` validates lazily, and
``Settings.secret_key_value()`` refuses a missing or weak ``SECRET_KEY`` only
when ``GALAXYCO_ENV=production``.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_KEY_LENGTH = 32


class InsecureSecretKeyError(RuntimeError):
    """Raised when production runs without a strong ``SECRET_KEY``."""


class Settings(BaseSettings):
    """All of GalaxyCo's configuration, read once from the environment."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    galaxyco_env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    public_url: str = "http://localhost:3000"
    port: int = 3000

    sentry_dsn: str = ""
    sentry_environment: str = ""
    log_level: str = "INFO"
    # OpenTelemetry traces over OTLP/HTTP to ``{endpoint}/v1/traces``; off when empty.
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = "galaxyco"
    # Prometheus metrics at /metrics: off (404) unless a bearer token is set. A directory
    # shared by the app and worker processes of one host adds their values up
    # (prometheus_client reads PROMETHEUS_MULTIPROC_DIR itself too; see docs/operations.md).
    metrics_token: str = ""
    prometheus_multiproc_dir: str = ""

    # OAuth / OIDC sign-in. A provider's button shows only when its id is set.
    google_client_id: str = ""
    google_client_secret: str = ""
    github_client_id: str = ""
    github_client_secret: str = ""
    oidc_name: str = "Single sign-on"
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""

    # Outgoing mail (invites). Empty host: invites are shown as a link only.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "GalaxyCo <no-reply@galaxyco.local>"
    smtp_starttls: bool = True

    # Limits.
    session_ttl_hours: int = 24 * 14
    invite_ttl_hours: int = 24 * 7
    login_max_failures: int = 5  # per email address
    # Per client address: higher, since offices and NATs share one address.
    login_max_failures_per_ip: int = 30
    login_window_seconds: int = 15 * 60
    login_lockout_seconds: int = 15 * 60
    max_workspaces_per_user: int = 20
    # Sign-ups hash a password (argon2): throttled per client address and in total.
    signup_max_per_ip_per_hour: int = 10
    signup_max_per_hour: int = 500
    # Proxies in front of the app whose X-Forwarded-For entries are trusted (0: none,
    # the socket's peer address is the client).
    trusted_proxy_hops: int = 0
    email_verify_ttl_hours: int = 72
    password_reset_ttl_minutes: int = 30

    # Outgoing connections to loopback/private addresses are refused, except to these
    # operator-listed ``host:port`` pairs (comma-separated), e.g. ``localhost:11434``
    # for a local Ollama. Link-local and cloud metadata addresses are never allowed.
    allowed_private_provider_hosts: str = ""
    # MCP servers as agent tools: stdio servers start a process on this machine, so
    # workspaces may register them only when the operator says so.
    mcp_allow_stdio: bool = False
    mcp_tool_timeout_seconds: float = 30.0  # one MCP tool call, or one tool list refresh

    # Runs.
    run_timeout_seconds: int = 600
    run_max_total_tokens: int = 200_000
    run_concurrency: int = 16  # runs executing at once in this process (embedded) or worker
    # Operator maximums; a workspace may choose lower limits in Settings → Limits.
    workspace_max_concurrent_runs: int = 10
    workspace_max_run_starts_per_minute: int = 120
    user_run_starts_per_minute: int = 30
    # Platform API: requests per minute per API key. Workspaces choose their own limit
    # up to this maximum (and get it when they chose none).
    api_max_requests_per_minute: int = 600
    worker_lost_after_seconds: int = 15
    # On SIGTERM a worker takes no new job and gives its running runs this long to finish
    # (it exits within this + ~7 s, inside the usual 30 s stop timeout); the app says "no
    # worker" after the second one without any.
    worker_shutdown_grace_seconds: int = 15
    no_worker_warning_seconds: int = 45
    # In-process event bus (embedded mode): a finished run's stream is kept this long
    # for late readers, and at most this many streams are kept at all.
    run_event_stream_ttl_seconds: int = 3600
    run_event_max_streams: int = 5000

    # Knowledge. Paths default to ``data/uploads`` and ``data/lancedb``.
    uploads_dir: Path | None = None
    lancedb_path: Path | None = None
    knowledge_max_upload_mb: int = 25
    # Types accepted at upload (decided from content): pdf, docx, markdown, html, text, csv.
    knowledge_allowed_types: list[str] = Field(
        default_factory=lambda: ["pdf", "docx", "markdown", "html", "text", "csv"]
    )
    knowledge_max_pages: int = 2_000
    knowledge_max_extracted_chars: int = 5_000_000
    knowledge_extract_timeout_seconds: int = 120  # wall clock per document
    knowledge_chunk_tokens: int = 400
    knowledge_chunk_overlap: float = 0.15
    knowledge_ingest_concurrency: int = 2  # items ingested at once per process (embedded)
    knowledge_maintenance_seconds: int = 60
    # After an item is indexed, its workspace's index is optimized this much later
    # (debounced: a batch of uploads shares one optimize).
    knowledge_optimize_delay_seconds: float = 3.0

    # Operations. /api/health/ready fails when the oldest job waiting to start has waited
    # longer than this (0: the queue is not checked). Provider base URLs in use are checked
    # for reachability this often (0: never), for Settings → Providers.
    ready_max_queue_lag_seconds: float = 60
    provider_reachability_check_seconds: int = 300

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: ``DATABASE_URL`` or a SQLite file under ``data/``."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'galaxyco.db'}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def resolved_uploads_dir(self) -> Path:
        return self.uploads_dir or self.data_dir / "uploads"

    @property
    def resolved_lancedb_path(self) -> Path:
        return self.lancedb_path or self.data_dir / "lancedb"

    @property
    def private_provider_hosts(self) -> frozenset[str]:
        """``ALLOWED_PRIVATE_PROVIDER_HOSTS`` as lower-case ``host:port`` entries."""
        return frozenset(
            entry.strip().lower() for entry in self.allowed_private_provider_hosts.split(",") if entry.strip()
        )

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def cookie_secure(self) -> bool:
        return self.public_url.startswith("https://")

    def secret_key_value(self) -> str:
        """The secret key used to derive encryption and signing keys.

        Returns:
            ``SECRET_KEY`` if set; in development and test, a random key generated
            once into ``data/secret_key``.

        Raises:
            InsecureSecretKeyError: in production when the key is missing or short.
        """
        if self.secret_key:
            if self.galaxyco_env == "production" and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
                raise InsecureSecretKeyError(
                    f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters in production."
                )
            return self.secret_key
        if self.galaxyco_env == "production":
            raise InsecureSecretKeyError("SECRET_KEY must be set when GALAXYCO_ENV=production.")
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def oauth_providers(self) -> dict[str, str]:
        """The configured OAuth providers, as ``{key: button label}``."""
        providers: dict[str, str] = {}
        if self.google_client_id:
            providers["google"] = "Google"
        if self.github_client_id:
            providers["github"] = "GitHub"
        if self.oidc_issuer and self.oidc_client_id:
            providers["oidc"] = self.oidc_name
        return providers


def check_startup_settings(settings: Settings) -> None:
    """Refuse to serve with settings that are unsafe for the environment.

    Raises:
        InsecureSecretKeyError: production without a strong ``SECRET_KEY``.
    """
    settings.secret_key_value()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
