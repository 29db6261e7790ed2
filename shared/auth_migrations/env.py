from shared.auth import AuthBase
from shared.migrate import run_env

run_env(AuthBase.metadata)
