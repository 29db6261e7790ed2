from pydantic import Field

from shared.platform.settings import DEFAULT_SERVER, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "portal"
    database_url: str = f"{DEFAULT_SERVER}/clusnet_portal"
    port: int = 8000
    # The portal calls the three services over HTTP as the signed-in person.
    recommendations_url: str = "http://127.0.0.1:8001"
    evaluations_url: str = "http://127.0.0.1:8002"
    notifications_url: str = "http://127.0.0.1:8003"
    service_timeout_s: float = Field(default=10.0, gt=0)
    session_idle_minutes: int = Field(default=30, ge=1, description="A session unused this long ends")
    session_absolute_hours: int = Field(default=8, ge=1, description="A session ends this long after sign-in, used or not")
    # None: Secure cookies exactly when the request came over HTTPS (as seen by uvicorn's proxy headers).
    cookie_secure: bool | None = None
    throttle_window_minutes: int = Field(default=15, ge=1)
    throttle_per_account: int = Field(default=5, ge=1, description="Failed sign-ins per email within the window")
    # Evidence files and spreadsheets (the services bound a sheet's size and say so on the page).
    upload_paths: str | None = r"/follow-ups/[^/]+/evidence/file|/spreadsheets/(recommendations|follow-ups)"
    throttle_per_address: int = Field(default=20, ge=1, description="Failed sign-ins per client address within the window")
