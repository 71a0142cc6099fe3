"""Router settings (env prefix GRIDLOOP_ROUTER_)."""

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from gridloop.servicekit.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_ROUTER_", env_nested_delimiter="__", extra="ignore")

    port: int = 8002
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_router"
    admission_list_check_seconds: float = 10.0  # how often a replica looks for a newly activated list
    # The operator console (docs/consoles.md) reads the rates, extensions and escalations from the departments
    # API, with the operator's own credential; the session cookie is Secure unless plain-HTTP development.
    departments_url: str = "http://127.0.0.1:8003"
    console_secure_cookie: bool = True


@lru_cache
def get_settings() -> RouterSettings:
    return RouterSettings()
