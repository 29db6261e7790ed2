from pydantic import Field

from shared.platform.settings import DEFAULT_SERVER, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notifications"
    database_url: str = f"{DEFAULT_SERVER}/clusnet_notifications"
    port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "CLUSNET follow-up <noreply@clusnet.eu>"
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_allow_loopback: bool = Field(
        default=False,
        description="Local development and tests only: admit webhook URLs on loopback (127.0.0.1, ::1), never other "
        "private, link-local, multicast or unspecified addresses (see services/notifications/targets.py)",
    )
    retry_base_s: float = Field(default=30.0, gt=0, description="First retry delay; each next one is 4x longer")
    retry_cap_s: float = Field(default=6 * 3600.0, gt=0, description="No retry waits longer than this")
    max_attempts: int = Field(default=8, ge=1, le=50, description="Then the delivery is dead (about 15 hours with the defaults)")
    dispatch_interval_s: float = Field(default=1.0, gt=0)
    dispatch_late_s: float = Field(
        default=0.5,
        gt=0,
        description="While a first attempt has waited this long, the consumer takes no more events (they wait in Kafka, "
        "where admission upstream sees them)",
    )
    dispatch_batch: int = Field(default=50, ge=1)
    dispatch_wait_s: float = Field(
        default=1.0,
        gt=0,
        description="How long a pass waits for its slowest receiver: one still unanswered then is left to answer by "
        "itself (recorded when it does), and its subscription waits out of the passes meanwhile",
    )
    dispatch_passes: int = Field(
        default=4,
        ge=1,
        description="Dispatch passes at once per process while passes find full batches: one waits on its receivers "
        "and its commit while the others send (rows are locked with SKIP LOCKED, so none is sent twice)",
    )
    digest_interval_s: float = Field(default=300.0, gt=0)
    # Where people open what an email is about, and where its one-click unsubscribe link points
    # (RFC 8058 wants HTTPS there: set it to the portal's public https:// address in production).
    portal_url: str = "http://127.0.0.1:8000"
