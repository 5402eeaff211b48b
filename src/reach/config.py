"""One typed settings object, read once from ``REACH_*`` environment variables.

Nothing reads the environment anywhere else: the CLI and the app factory call
:func:`load_settings` once and pass the result down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

from reach.errors import ConfigError

ENV_PREFIX = "REACH_"
_SECRET_FIELDS = frozenset({"secret_key", "metrics_token"})


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting of the server, with its default and its meaning.

    The docstring of each field (in ``FIELD_DOCS``) is the operator documentation:
    ``docs/configuration.md`` is generated from it and a test keeps them in step.
    """

    database_url: str = "sqlite:///./reach.db"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    access_log: bool = False
    metrics: bool = True
    jwt_leeway_seconds: int = 30
    max_body_bytes: int = 4 * 1024 * 1024
    max_token_bytes: int = 8 * 1024
    token_cache_size: int = 10_000
    lookup_cache_seconds: float = 5.0
    record_hints: int = 10_000
    db_pool_size: int = 10
    sqlite_scan_threads: int = 2
    batch_worker: bool = True
    batch_poll_seconds: float = 0.5
    demo_on_first_run: bool = True
    request_timeout_seconds: float = 30.0
    rate_limit: str = ""
    tenant_rate_limit: str = ""
    rate_limit_storage: str = "memory://"
    secret_key: str = ""
    max_token_lifetime_seconds: int = 0
    metrics_token: str = ""
    token_cache_seconds: float = 60.0
    db_acquire_timeout_seconds: float = 5.0
    db_lock_timeout_seconds: float = 5.0
    http_idle_timeout_seconds: float = 10.0
    http_keep_alive: bool = True
    max_connections: int = 1000
    shutdown_timeout_seconds: float = 25.0
    max_schema_bytes: int = 512 * 1024
    max_schema_depth: int = 32
    max_schema_nodes: int = 10_000
    batch_retention_days: int = 30
    cors_origins: str = ""
    idempotency_retention_seconds: int = 86_400
    events: bool = True
    history_retention_days: int = 90
    database_read_urls: str = ""
    replica_max_lag_seconds: float = 5.0
    replica_wait_seconds: float = 0.1
    replica_check_seconds: float = 1.0
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 64
    webhook_endpoint_concurrency: int = 16
    webhook_retry_first_seconds: float = 5.0
    webhook_retry_max_interval_seconds: float = 6 * 3600.0
    webhook_retry_hours: float = 72.0
    webhook_disable_after_hours: float = 120.0
    webhook_delivery_retention_days: int = 30

    def __repr__(self) -> str:
        # Settings may end up in a log line or a traceback; the encryption key must not.
        shown = ", ".join(
            f"{name}={'<redacted>' if name in _SECRET_FIELDS else repr(getattr(self, name))}"
            for name in self.__struct_fields__
        )
        return f"Settings({shown})"

    @property
    def engine(self) -> str:
        return (
            "postgresql" if self.database_url.startswith(("postgresql:", "postgres:")) else "sqlite"
        )


FIELD_DOCS: dict[str, str] = {
    "database_url": "`sqlite:///path/to/file.db` (embedded, default `./reach.db`) or "
    "`postgresql://user@host:5432/db`.",
    "host": "Interface `reach serve` binds to.",
    "port": "TCP port `reach serve` listens on.",
    "workers": "Worker processes of `reach serve` (each has its own event loop).",
    "log_level": "`debug`, `info`, `warning` or `error`.",
    "access_log": "One JSON line per request on stderr (request id, method, route template, "
    "status, duration, partner and tenant ids; never tokens or bodies), at info level. Off by "
    "default: it costs ~5-20 µs a request, mostly the write.",
    "metrics": "Serve Prometheus metrics at `/metrics` and record per-request metrics.",
    "jwt_leeway_seconds": "Clock skew tolerated on `exp`/`iat`/`nbf` (at most 60).",
    "max_body_bytes": "Largest request body accepted; larger bodies get 413 before they are read.",
    "max_token_bytes": "Largest bearer token accepted; larger tokens get 401 unparsed.",
    "token_cache_size": "Verified tokens kept in memory per process (each only until its `exp`).",
    "lookup_cache_seconds": "How long a process may reuse a tenant or schema definition it "
    "looked up; writes through the same process invalidate at once.",
    "record_hints": "Records a process remembers as it last read or wrote them, so a PATCH "
    "can skip its read while the version it saw is current (the write checks it); 0 turns "
    "this off.",
    "db_pool_size": "PostgreSQL connections per process.",
    "sqlite_scan_threads": "SQLite: reader connections (one thread each) a segment's member "
    "scan is split over, so it runs on several CPUs while the process's connection serves "
    "other requests; 0 runs scans on the request's connection, holding it.",
    "batch_worker": "Run a batch worker inside each `reach serve` process.",
    "batch_poll_seconds": "How often an idle batch worker looks for new work.",
    "demo_on_first_run": "On an empty embedded database, `reach serve` creates a demo partner "
    "and tenant and prints a ready-to-paste curl command.",
    "request_timeout_seconds": "Longest an API request may take (reading its body included); "
    "past it the request is rolled back and answered 503.",
    "rate_limit": "Requests allowed per partner, all its tenants together, e.g. `100/second` or "
    "`100/second;2000/minute`; empty turns rate limiting off. See docs/security.md.",
    "tenant_rate_limit": "Requests allowed per tenant (same syntax), so one tenant cannot use up "
    "its partner's budget; empty = no per-tenant limit.",
    "rate_limit_storage": "Where rate-limit counters live: `memory://` (per process) or "
    "`redis://host:6379` (shared by every worker and host).",
    "secret_key": "Base64 of 32 random bytes (`reach keygen`) that encrypts partner secrets at "
    "rest. Required on PostgreSQL; on SQLite, when empty, a key file `<database>.key` (0600) "
    "is created beside the database.",
    "max_token_lifetime_seconds": "Longest a bearer token may live: `exp - iat` at most this, "
    "and a token without `iat` may expire at most this far from now; 0 = no limit. Bounds how "
    "long a leaked token works. See docs/security.md.",
    "metrics_token": "When set, `GET /metrics` needs `Authorization: Bearer <this value>` "
    "(401 otherwise); empty = `/metrics` is public (keep it off the internet at the proxy).",
    "token_cache_seconds": "How long a process reuses a token it verified (never past its "
    "`exp`): a token signed with a secret revoked meanwhile keeps working that long; 0 = "
    "verify every request (tens of µs each).",
    "db_acquire_timeout_seconds": "Longest a request waits for a free database connection (the "
    "PostgreSQL pool, or SQLite's one connection per process) and for a new one to open; past "
    "it the request is answered 503 with `Retry-After` instead of queueing for its whole "
    "request timeout.",
    "db_lock_timeout_seconds": "Longest a statement waits for a lock another transaction holds "
    "(PostgreSQL `lock_timeout`; on SQLite, another process's write lock); past it the request "
    "is answered 503 with `Retry-After`, and a batch chunk is retried.",
    "http_idle_timeout_seconds": "`reach serve`: a connection is closed when it has waited this "
    "long for a request's headers, whether it is new and silent, idle between keep-alive "
    "requests or sending its headers slowly (at most 60). A reverse proxy keeping idle "
    "connections to the server must close them sooner (docs/security.md).",
    "http_keep_alive": "`reach serve`: keep HTTP/1.1 connections open between requests.",
    "max_connections": "`reach serve`: connections each worker process serves at once; more "
    "wait in the listen queue until one closes.",
    "shutdown_timeout_seconds": "On SIGTERM, `reach serve` and `reach worker` finish work in "
    "hand for at most this long, then stop what is left (a request is cut off unanswered and "
    "rolled back; a batch chunk rolls back and resumes elsewhere). Keep it below the "
    "orchestrator's grace period.",
    "max_schema_bytes": "Largest JSON Schema a schema definition may carry (its compact JSON); "
    "larger is a 400. Compiling a validator holds the interpreter lock, so this bounds how long "
    "a definition write or the first write after a restart can pause the process.",
    "max_schema_depth": "Deepest JSON nesting allowed inside a definition's JSON Schema "
    "(levels of objects and arrays); deeper is a 400.",
    "max_schema_nodes": "Most JSON values (objects, arrays, keys' values) a definition's JSON "
    "Schema may hold, a regular expression counting as 20; more is a 400.",
    "batch_retention_days": "Days a finished batch (with its items) is kept after it finished; "
    "the batch workers delete older ones hourly in small chunks (`reach prune` does it by "
    "hand). 0 keeps them forever.",
    "cors_origins": "Browser origins allowed to call the API from another site, comma-separated "
    "(`https://app.example.com`), or `*`; empty (the default) allows none. Preflight `OPTIONS` "
    "requests are answered for them.",
    "idempotency_retention_seconds": "How long the first response to a write sent with an "
    "`Idempotency-Key` is kept and replayed to retries with that key (default 24 h); the "
    "batch worker deletes expired keys.",
    "events": "Append a change event with every write (record history, the `/api/events` feed, "
    "webhooks). Off, writes append nothing and both routes show only older events.",
    "history_retention_days": "Days change events (record history and the feed) are kept; "
    "the batch workers delete older ones in small chunks. 0 keeps them forever.",
    "database_read_urls": "PostgreSQL hot standbys of `REACH_DATABASE_URL`, comma-separated "
    "(`postgresql://user@standby1/db,postgresql://user@standby2/db`). Reads (record, list, "
    "segment and member GETs, exports) go to a healthy one; writes and whatever decides a "
    "write stay on the primary. Empty (the default): everything on the primary. See "
    "docs/replicas.md.",
    "replica_max_lag_seconds": "A read without a `Reach-Consistency` token may be this many "
    "seconds stale: replicas further behind are skipped (the primary serves it).",
    "replica_wait_seconds": "Longest a read waits for a replica: to replay as far as the "
    "read's `Reach-Consistency` token, or for a free replica connection; past it the primary "
    "serves the read.",
    "replica_check_seconds": "How often each serving process checks its replicas' health and "
    "lag (each check bounded by this too): a dead, lagging or promoted replica leaves the "
    "rotation, and comes back at the first good check.",
    "webhook_allow_private": "Let webhooks go to loopback, link-local, private and other "
    "non-public addresses (checked after DNS resolution, at send time). Off by default: a "
    "partner's endpoint URL must not reach into the server's own network.",
    "webhook_timeout_seconds": "Longest a webhook attempt may take, DNS, connection and answer "
    "included; past it the attempt failed and is retried.",
    "webhook_concurrency": "Webhook requests a worker process has in flight at once.",
    "webhook_endpoint_concurrency": "Of those, at most this many to any one endpoint, so a slow "
    "endpoint never holds up the others.",
    "webhook_retry_first_seconds": "Delay before the first retry of a failed webhook delivery "
    "(jittered between half and all of it); each later retry waits twice as long.",
    "webhook_retry_max_interval_seconds": "Longest wait between two attempts of a delivery.",
    "webhook_retry_hours": "How long a delivery is retried after it was created; then it is "
    "`failed` (it can still be retried by hand).",
    "webhook_disable_after_hours": "An endpoint whose every attempt has failed for this long is "
    "disabled, with the reason in `disabledReason`; 0 never disables.",
    "webhook_delivery_retention_days": "Days a finished (succeeded or failed) webhook delivery "
    "is kept in the delivery log; the workers delete older ones in small chunks. 0 keeps them "
    "forever.",
}


def _check_webhook_settings(settings: Settings) -> None:
    for name in (
        "webhook_timeout_seconds",
        "webhook_retry_first_seconds",
        "webhook_retry_max_interval_seconds",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be positive")
    for name in ("webhook_concurrency", "webhook_endpoint_concurrency"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
    for name in (
        "webhook_retry_hours",
        "webhook_disable_after_hours",
        "webhook_delivery_retention_days",
    ):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be 0 or more")


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected a boolean, got {raw!r}")
    try:
        return type(default)(raw)
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected {kind}, got {raw!r}") from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``REACH_*`` variables; explicit ``overrides`` win (CLI flags)."""
    source = os.environ if env is None else env
    defaults = Settings()
    values: dict[str, Any] = {}
    for name in Settings.__struct_fields__:
        raw = source.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw, getattr(defaults, name))
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)
    if not 0 <= settings.jwt_leeway_seconds <= 60:
        raise ConfigError("REACH_JWT_LEEWAY_SECONDS must be between 0 and 60")
    if settings.workers < 1:
        raise ConfigError("REACH_WORKERS must be at least 1")
    if settings.history_retention_days < 0:
        raise ConfigError("REACH_HISTORY_RETENTION_DAYS must be 0 (keep forever) or more")
    if settings.batch_retention_days < 0:
        raise ConfigError("REACH_BATCH_RETENTION_DAYS must be 0 (keep forever) or more")
    if settings.request_timeout_seconds <= 0:
        raise ConfigError("REACH_REQUEST_TIMEOUT_SECONDS must be positive")
    if settings.token_cache_seconds < 0:
        raise ConfigError("REACH_TOKEN_CACHE_SECONDS must be 0 (no cache) or positive")
    if settings.max_token_lifetime_seconds < 0:
        raise ConfigError("REACH_MAX_TOKEN_LIFETIME_SECONDS must be 0 (no limit) or positive")
    if not 0 <= settings.sqlite_scan_threads <= 64:
        raise ConfigError("REACH_SQLITE_SCAN_THREADS must be between 0 and 64")
    for name in ("db_acquire_timeout_seconds", "db_lock_timeout_seconds"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be positive")
    _check_server_settings(settings)
    if settings.idempotency_retention_seconds < 1:
        raise ConfigError("REACH_IDEMPOTENCY_RETENTION_SECONDS must be at least 1")
    _check_rate_limit_settings(settings)
    _check_replica_settings(settings)
    _check_webhook_settings(settings)
    for name in ("max_schema_bytes", "max_schema_depth", "max_schema_nodes"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
    if not settings.database_url.startswith(("sqlite:", "postgresql:", "postgres:")):
        scheme = settings.database_url.split(":", 1)[0]
        raise ConfigError(
            f"REACH_DATABASE_URL: unsupported database {scheme!r}; "
            "use sqlite:///path.db or postgresql://user@host/db"
        )
    return settings


def _check_server_settings(settings: Settings) -> None:
    # The ranges granian accepts (header timeout in whole ms up to 60 s, kill timeout in
    # whole seconds up to 30 min), checked here so a bad value names its REACH_ variable.
    if not 0.001 <= settings.http_idle_timeout_seconds <= 60:
        raise ConfigError("REACH_HTTP_IDLE_TIMEOUT_SECONDS must be between 0.001 and 60")
    if settings.max_connections < 1:
        raise ConfigError("REACH_MAX_CONNECTIONS must be at least 1")
    if not 0 < settings.shutdown_timeout_seconds <= 1800:
        raise ConfigError("REACH_SHUTDOWN_TIMEOUT_SECONDS must be above 0 and at most 1800")


def _check_rate_limit_settings(settings: Settings) -> None:
    from limits import parse_many

    for name in ("rate_limit", "tenant_rate_limit"):
        value = getattr(settings, name)
        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}{name.upper()}: expected e.g. 100/second or "
                    f"100/second;2000/minute, got {value!r}"
                ) from None
    if not settings.rate_limit_storage.startswith(("memory://", "redis://", "rediss://")):
        raise ConfigError(
            "REACH_RATE_LIMIT_STORAGE: expected memory:// or redis://host:port, "
            f"got {settings.rate_limit_storage!r}"
        )


def read_urls(settings: Settings) -> list[str]:
    """``REACH_DATABASE_READ_URLS`` as a list (empty entries dropped)."""
    return [url.strip() for url in settings.database_read_urls.split(",") if url.strip()]


def _check_replica_settings(settings: Settings) -> None:
    urls = read_urls(settings)
    if urls and settings.engine != "postgresql":
        raise ConfigError(
            "REACH_DATABASE_READ_URLS needs a PostgreSQL REACH_DATABASE_URL (standbys of it)"
        )
    for url in urls:
        if not url.startswith(("postgresql:", "postgres:")):
            raise ConfigError(
                "REACH_DATABASE_READ_URLS: every entry must be a postgresql:// URL, got "
                f"{url.split(':', 1)[0]!r}"
            )
    if settings.replica_max_lag_seconds <= 0:
        raise ConfigError("REACH_REPLICA_MAX_LAG_SECONDS must be positive")
    if settings.replica_wait_seconds < 0:
        raise ConfigError("REACH_REPLICA_WAIT_SECONDS must be 0 (never wait) or positive")
    if settings.replica_check_seconds <= 0:
        raise ConfigError("REACH_REPLICA_CHECK_SECONDS must be positive")


def settings_table() -> str:
    """The operator documentation of every setting, as a Markdown table (docs/configuration.md)."""
    defaults = Settings()
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name in Settings.__struct_fields__:
        default = getattr(defaults, name)
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {FIELD_DOCS[name]} |")
    return "\n".join(lines) + "\n"
