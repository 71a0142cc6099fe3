"""Intake settings (env prefix GRIDLOOP_INTAKE_)."""

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from gridloop.contracts.topics import Department
from gridloop.servicekit.settings import DEV_ENVS, ServiceSettings

DEV_OPEN311_API_KEY = "gridloop-dev-open311"


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDLOOP_INTAKE_", env_nested_delimiter="__", extra="ignore")

    port: int = 8001
    database_url: str = "postgresql+asyncpg://gridloop:gridloop@127.0.0.1:5432/gridloop_intake"
    # Open311 GeoReport v2 (docs/open311.md): keys that may post requests (JSON list in the env variable),
    # the pseudo-worker an Open311 request is reported by, and how its grid is found.
    open311_api_keys: frozenset[str] = frozenset({DEV_OPEN311_API_KEY})
    # Partner agencies' keys (JSON object: key -> departments): reading with one shows the cases of those
    # departments' items in full, personal items included (docs/open311.md). Posting still needs an api key above.
    open311_partner_keys: dict[str, frozenset[Department]] = Field(default_factory=dict)
    open311_worker_id: str = "open311"
    open311_fallback_grid: str | None = None  # for requests with an address but no coordinates; None: first grid
    # A report located farther than this outside the reported grid is accepted but flagged for operators
    # (GPS error in dense streets reaches 50-100 m).
    place_tolerance_m: float = Field(default=150.0, ge=0)
    registry_import_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)  # POST /v1/registry/imports (files)
    # Seed the synthetic district into an empty registry at start: None = in development and tests only (never in
    # production); false starts empty there too, so that the district arrives by import (`gridloop demo` does).
    seed_registry: bool | None = None
    registry_check_seconds: float = 2.0  # how often a replica looks for registry changes made by another
    # The admission list in force is the router's (services/intake/admission_list.py): where to ask, how often.
    # None: no router to ask (tests, a lone intake): the shipped list applies.
    router_url: str | None = None
    admission_list_check_seconds: float = 10.0
    # Group commit of reports (gridloop/delivery/group_commit.py): at most this many reports per transaction,
    # and this many transactions of reports in flight at once.
    report_group_max: int = Field(default=64, ge=1, le=1000)
    report_group_writers: int = Field(default=2, ge=1)
    # A worker's stream (GET /v1/workers/me/reports/stream) looks for updates another replica wrote this often, and
    # sends a keep-alive comment when nothing happened.
    worker_stream_poll_seconds: float = Field(default=2.0, gt=0)
    # The worker app (docs/consoles.md): where intake is reached from outside (photo links name it), the largest
    # photo accepted, and whether the session cookie is Secure (only plain-HTTP development turns it off).
    public_base_url: str = "http://127.0.0.1:8001"
    photo_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    console_secure_cookie: bool = True

    @model_validator(mode="after")
    def _refuse_development_open311_key_outside_development(self) -> "IntakeSettings":
        if self.env not in DEV_ENVS and DEV_OPEN311_API_KEY in self.open311_api_keys:
            raise ValueError("open311_api_keys holds the development key; set real keys outside development")
        if self.env not in DEV_ENVS and any(len(key) < 24 for key in self.open311_partner_keys):
            raise ValueError("open311_partner_keys: a partner key reads personal cases; use at least 24 characters")
        return self


@lru_cache
def get_settings() -> IntakeSettings:
    return IntakeSettings()
