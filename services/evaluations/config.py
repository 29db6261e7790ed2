from pydantic import Field

from shared.platform.settings import DEFAULT_SERVER, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "evaluations"
    database_url: str = f"{DEFAULT_SERVER}/clusnet_evaluations"
    port: int = 8002
    due_soon_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="followup.due_soon fires this many days ahead; a follow-up is `due_soon` within it",
    )
    deadline_check_interval_s: float = Field(default=60.0, gt=0)
    upload_paths: str | None = r"/follow-ups/[^/]+/evidence/file"
