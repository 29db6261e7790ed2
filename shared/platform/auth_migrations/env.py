from shared.platform import people  # noqa: F401  (registers the person table in AuthBase.metadata)
from shared.platform.auth import AuthBase
from shared.platform.migrate import run_env

run_env(AuthBase.metadata)
