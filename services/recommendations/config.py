from shared.platform.settings import DEFAULT_SERVER, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "recommendations"
    database_url: str = f"{DEFAULT_SERVER}/clusnet_recommendations"
    port: int = 8001
