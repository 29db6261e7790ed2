"""Settings shared by every service. Each service subclasses `ServiceSettings` in its own config.py.

Nothing is read at import time: settings are built by the service's app factory or CLI command.
The defaults point at 127.0.0.1:9092 and 127.0.0.1:5432, where `make run` starts Kafka and
PostgreSQL, so the CLI and the services find them with no flags.
"""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts import topics

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "clusnet"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="clusnet", pattern=r"^[a-zA-Z0-9._-]{1,100}$")
    consumer_group_id: str | None = Field(default=None, description="Default: <topic_prefix>-<service_name>")
    database_url: str = f"{DEFAULT_SERVER}/clusnet"
    # Where bearer tokens live (see docs/security.md): one small database read by all services.
    auth_database_url: str = f"{DEFAULT_SERVER}/clusnet_auth"
    # Run the background workers (outbox relay, consumers, schedulers) inside the API process.
    run_workers: bool = True
    auth_failure_limit: str = Field(
        default="20/minute",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        description="Failed authentications allowed per client address before 429 (limits' notation)",
    )
    rate_limit_storage_uri: str = Field(
        default="async+memory://", description="Where the failure counts live (per process by default; async+redis://… to share)"
    )
    auth_cache_s: float = Field(default=5.0, ge=0, description="How long a verified token is trusted without a database read")
    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = Field(default=1_000_000, description="Requests larger than this are refused with 413.")
    upload_max_bytes: int = Field(default=10_000_000, ge=1, description="The largest file an upload route accepts.")
    # Routes (a regular expression over the path) that take file uploads, up to upload_max_bytes.
    upload_paths: str | None = None
    max_in_flight_requests: int = Field(
        default=64,
        ge=0,
        description="Requests in progress per process before the excess is refused at once with 503 + Retry-After (0: no limit)",
    )
    max_event_loop_lag_ms: float = Field(
        default=200,
        ge=0,
        description="While the event loop runs later than this, new requests are refused at once with 503 + Retry-After (0: off)",
    )
    max_pipeline_delay_ms: float = Field(
        default=500,
        ge=0,
        description="While this deployment's consumers run this far behind on this service's events (and 100 or more "
        "wait), writes (not reads) are refused at once with 503 + Retry-After (0: off; see shared/platform/pipeline.py)",
    )
    database_pool_size: int = Field(
        default=40,
        ge=1,
        description="Pooled database connections per process (up to 20 more under bursts): about the requests in progress",
    )
    consumer_max_attempts: int = Field(default=3, description="Attempts before a message is dead-lettered.")
    consumer_retry_backoff_s: float = 0.2
    consumer_stall_after_s: float = Field(
        default=20.0, gt=0, description="Records waiting and none fetched this long, broker up: a new Kafka client"
    )
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of the topics this service creates (if missing)")
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.2

    def topic(self, stream: str) -> str:
        return topics.name(self.topic_prefix, stream)

    @property
    def consumer_group(self) -> str:
        return self.consumer_group_id or f"{self.topic_prefix}-{self.service_name}"
