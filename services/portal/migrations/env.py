from services.portal.models import Base
from shared.platform.migrate import run_env

run_env(Base.metadata)
