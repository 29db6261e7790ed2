from shared.platform.auth import AuthBase
from shared.platform.migrate import run_env

run_env(AuthBase.metadata)
