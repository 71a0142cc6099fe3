"""Event contracts that cross service boundaries. Each event is a small past-tense record with a version.

On Kafka every event travels as a CloudEvent in binary mode: the `ce_*` headers carry id, type, source and
time, the value is the JSON payload below, and the record key is the case id.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from gridloop.contracts.topics import Department

Channel = Literal["sms", "email", "webhook", "none"]


def clean_text(text: str) -> str:
    """Text a person typed, NFC-normalised (lengths count what a person sees; equal names compare equal) and
    storable: no NUL, no lone surrogates (PostgreSQL and UTF-8 refuse both)."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return unicodedata.normalize("NFC", text).strip()


NfcText = Annotated[str, AfterValidator(clean_text)]

# Steps of a case's timeline, in the order a case usually passes them.
CaseStatus = Literal[
    "received",  # intake stored the report
    "forwarded",  # router dispatched it to a department
    "not_admitted",  # not on the admission list; not forwarded
    "triage",  # router not confident; waits for an operator
    "signed",  # department signed for it (签收)
    "in_progress",  # department working on it
    "returned",  # department returned it (退单)
    "resolved",  # department resolved it (办结)
    "reopened",  # resident not satisfied
    "closed",  # feedback received or timed out
    "sla_warning",  # 75 % of a deadline passed
    "sla_breached",  # deadline passed
    "escalated",  # moved one rung up the supervision ladder (督办)
    "extension_requested",
    "extension_decided",
    "duplicate_linked",  # linked to an open case of the same item nearby (one work item, several reporters)
    "duplicate_unlinked",  # an operator undid a wrong duplicate link
    "feedback_received",
]

# Steps the resident sees and is told about.
RESIDENT_VISIBLE: frozenset[str] = frozenset(
    {"received", "forwarded", "not_admitted", "signed", "resolved", "reopened", "closed", "duplicate_linked"}
)


class Event(BaseModel):
    """Base for all events: frozen, strict about unknown fields, with a CloudEvents type."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]
    case_id: uuid.UUID

    @property
    def key(self) -> str:
        return str(self.case_id)


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: NfcText | None = Field(default=None, max_length=300)


class ResidentContact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: NfcText = Field(min_length=1, max_length=50)
    phone: str = Field(pattern=r"^1[3-9]\d{9}$", description="mainland mobile number, 11 digits")
    notify_consent: bool = True
    channel: Channel = "sms"
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")


class Place(BaseModel):
    """Where a case is, decided by the registry's boundaries (docs/registry.md): the grid whose polygon holds the
    report's location, that grid's community and street. `by` says how: `location` (a polygon holds the point), or
    `reported_grid` (no coordinates, or a point in no grid: the grid the report names). Duplicate matching and the
    rates by community and street count a case here, whichever grid its reporting worker walks."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    grid_id: str
    community_id: str
    street: str
    by: Literal["location", "reported_grid"]


class CaseReported(Event):
    """A grid worker's report became a case (published by intake). `grid_id`/`community_id` are the grid the report
    names (the reporting worker's) and its community; `place` is where the case is by the boundaries."""

    event_type: ClassVar[str] = "cn.gridloop.case.reported.v1"
    client_report_id: uuid.UUID
    worker_id: str
    grid_id: str
    community_id: str
    description: str
    item_hint: str | None = None
    location: Location | None = None
    occurred_at: datetime
    reported_at: datetime
    photo_urls: list[str] = Field(default_factory=list)
    # The resident's contact crosses Kafka sealed: `resident_sealed` is `ResidentCipher.seal` of the contact, its
    # name, phone, e-mail and webhook encrypted with the residents' key, which only GridLoop's services hold. Read
    # it with `contact(cipher.open)`. `resident` (in clear) is what events written before sealing carry; exactly
    # one of the two is set.
    resident: ResidentContact | None = Field(
        default=None, description="the contact in clear: only in events written before contacts were sealed"
    )
    resident_sealed: dict[str, Any] | None = Field(
        default=None,
        description="the contact as ResidentCipher.seal leaves it: name, phone, email and webhook_url Fernet-encrypted "
        "with the residents' key, notify_consent and channel in clear, sealed: true",
    )
    tracking_token: str
    excluded_departments: list[Department] = Field(default_factory=list)
    returns: int = 0
    place: Place | None = Field(
        default=None, description="where the case is by the boundaries; unset only in events written before places"
    )

    @model_validator(mode="after")
    def _one_contact(self) -> CaseReported:
        if (self.resident is None) == (self.resident_sealed is None):
            raise ValueError("a reported case carries exactly one of resident and resident_sealed")
        return self

    def contact(self, open_sealed: Callable[[dict[str, Any]], dict[str, Any]]) -> ResidentContact:
        """The resident's contact in clear (`open_sealed`: `ResidentCipher.open`)."""
        if self.resident is not None:
            return self.resident
        assert self.resident_sealed is not None
        return ResidentContact.model_validate(open_sealed(self.resident_sealed))


class CaseDispatched(Event):
    """The router forwarded a case to a department (published on the department's topic). `grid_id`/`community_id`
    are the reported grid's (as in CaseReported); `place` is where the case is by the boundaries, what departments
    count it in (`placed`)."""

    event_type: ClassVar[str] = "cn.gridloop.case.dispatched.v1"
    department: Department
    item_code: str
    item_name_zh: str
    resolve_hours: int
    confidence: float
    list_version: str
    description: str
    grid_id: str
    community_id: str
    location: Location | None = None
    occurred_at: datetime
    reported_at: datetime
    dispatched_at: datetime
    resident_name_masked: str
    resident_phone_masked: str
    dispatch_no: int = 1
    photo_urls: list[str] = Field(default_factory=list, description="the worker's photos (links need signing)")
    place: Place | None = Field(
        default=None, description="where the case is by the boundaries; unset only in events written before places"
    )

    @property
    def placed(self) -> Place:
        """Where departments count the case: `place`, or for an event written before places the reported grid
        (its street unknown: empty)."""
        if self.place is not None:
            return self.place
        return Place(grid_id=self.grid_id, community_id=self.community_id, street="", by="reported_grid")


# A resident's rating of a resolution (回访). 满意 and 基本满意 both count as satisfied in the satisfaction rate.
Rating = Literal["satisfied", "basically_satisfied", "dissatisfied"]
RATINGS_ZH: dict[Rating, str] = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
SATISFIED: frozenset[Rating] = frozenset({"satisfied", "basically_satisfied"})
# Why a department returned a case (退单).
ReturnReason = Literal["not_our_remit", "wrong_area", "insufficient_information"]
# A department's two deadlines for a work item: to sign for it (签收) and to resolve it (办结).
DeadlineName = Literal["sign", "resolve"]


class StatusDetail(BaseModel):
    """What a step adds to its status: one model per status (`DETAILS`). In v1 every field is optional (events
    written before these models existed decode), and a field left unset is left off the wire."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    urgent: bool | None = Field(default=None, description="notify sends the step even in quiet hours")

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class NoDetail(StatusDetail):
    """A step with nothing beyond its status, note and actor (the default, whatever the status)."""


class ReceivedDetail(StatusDetail):
    """`received`: where the report came from."""

    grid_id: str | None = None
    community_id: str | None = None


class ForwardedDetail(StatusDetail):
    """`forwarded`: the admission-list item the case was forwarded as."""

    item_name_zh: str | None = None
    resolve_hours: int | None = None


class RoutingDetail(StatusDetail):
    """`not_admitted` / `triage`: how sure the classifier was; for a returned case, why it waits for an operator."""

    confidence: float | None = None
    returns: int | None = Field(default=None, description="how often the case was returned so far")
    excluded_departments: list[Department] | None = None
    reason_code: str | None = None


class SignedDetail(StatusDetail):
    """`signed`: on time or not; for a linked duplicate, the case whose signing it shares."""

    within_deadline: bool | None = None
    primary_case_id: uuid.UUID | None = None


class ReturnedDetail(StatusDetail):
    """`returned` (退单): why, by which department, and which dispatch of the case was returned."""

    reason_code: ReturnReason | None = None
    department: Department | None = None
    dispatch_no: int | None = Field(default=None, ge=1)


class ResolvedDetail(StatusDetail):
    """`resolved` (办结): the result, on time or not; for a linked duplicate, the case resolved with it."""

    result: str | None = None
    within_deadline: bool | None = None
    primary_case_id: uuid.UUID | None = None


class FeedbackDetail(StatusDetail):
    """`feedback_received`: the resident's rating, comment, and the channel it came by."""

    rating: Rating | None = None
    comment: str | None = None
    via: str | None = Field(default=None, description="page | sms")


class ReopenedDetail(StatusDetail):
    """`reopened` (重新办理): which reopening this is and the rating that caused it."""

    round: int | None = Field(default=None, ge=1)
    rating: Rating | None = None


class ClosedDetail(StatusDetail):
    """`closed`: the rating that closed the case, or no rating and why (no_feedback: nobody answered)."""

    rating: Rating | None = None
    reason: Literal["no_feedback"] | None = None


class EscalationDetail(StatusDetail):
    """`sla_warning` / `sla_breached` / `escalated` (督办): the deadline concerned, the supervision rung it is on
    and, on escalation, the rung it came from; notify's escalation after repeated dissatisfaction names no deadline
    but the reason and the reopenings."""

    # `deadline_name` travels as `clock`, its v1 name (a deadline is not a clock, but the wire keeps its word).
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)
    deadline_name: DeadlineName | None = Field(default=None, alias="clock", description="which: sign | resolve")
    level: str | None = Field(default=None, description="the rung: handler | department_head | district_supervisor")
    from_level: str | None = None
    deadline: datetime | None = Field(default=None, description="the moment the deadline falls (on this rung)")
    reason: Literal["resident_dissatisfied"] | None = None
    reopens: int | None = None


class ExtensionRequestedDetail(StatusDetail):
    """`extension_requested`: the request and the extra hours asked for."""

    extension_id: uuid.UUID | None = None
    hours: int | None = None
    reason: str | None = None


class ExtensionDecidedDetail(StatusDetail):
    """`extension_decided`: approved or not, and the resolution deadline that now applies."""

    extension_id: uuid.UUID | None = None
    approved: bool | None = None
    hours: int | None = None
    resolve_deadline: datetime | None = None


class DuplicateDetail(StatusDetail):
    """`duplicate_linked` / `duplicate_unlinked`: the open case this one is (or was) linked to; when linked, how alike
    the two reports' descriptions are and the primary's progress, which the resident is told (已并案)."""

    primary_case_id: uuid.UUID | None = None
    grid_id: str | None = None
    score: float | None = Field(default=None, description="description similarity to the primary, 0..1")
    primary_progress: str | None = Field(default=None, description="the primary's progress, in Chinese")


class ProgressDetail(StatusDetail):
    """`in_progress`: for a linked duplicate, the case whose progress note it shares."""

    primary_case_id: uuid.UUID | None = None


# The detail model of each status.
DETAILS: dict[str, type[StatusDetail]] = {
    "received": ReceivedDetail,
    "forwarded": ForwardedDetail,
    "not_admitted": RoutingDetail,
    "triage": RoutingDetail,
    "signed": SignedDetail,
    "in_progress": ProgressDetail,
    "returned": ReturnedDetail,
    "resolved": ResolvedDetail,
    "reopened": ReopenedDetail,
    "closed": ClosedDetail,
    "sla_warning": EscalationDetail,
    "sla_breached": EscalationDetail,
    "escalated": EscalationDetail,
    "extension_requested": ExtensionRequestedDetail,
    "extension_decided": ExtensionDecidedDetail,
    "duplicate_linked": DuplicateDetail,
    "duplicate_unlinked": DuplicateDetail,
    "feedback_received": FeedbackDetail,
}

D = TypeVar("D", bound=StatusDetail)
AnyDetail = (
    NoDetail
    | ReceivedDetail
    | ForwardedDetail
    | RoutingDetail
    | SignedDetail
    | ReturnedDetail
    | ResolvedDetail
    | FeedbackDetail
    | ReopenedDetail
    | ClosedDetail
    | EscalationDetail
    | ExtensionRequestedDetail
    | ExtensionDecidedDetail
    | DuplicateDetail
    | ProgressDetail
)


def status_detail(status: str, detail: StatusDetail | dict[str, Any] | None) -> StatusDetail:
    """The typed detail of a step of `status`, from its JSON object (on the wire, in a projection) or as given."""
    model = DETAILS[status]
    if isinstance(detail, model):
        return detail
    if type(detail) is NoDetail:  # nothing specific: fits every status
        return model.model_validate(detail.model_dump())
    if isinstance(detail, StatusDetail):
        raise ValueError(f"a {status} step carries a {model.__name__}, not a {type(detail).__name__}")
    return model.model_validate(detail or {})


class CaseStatusChanged(Event):
    """One step in a case's timeline (published on the status topic by whichever service made the step)."""

    event_type: ClassVar[str] = "cn.gridloop.case.status_changed.v1"
    status: CaseStatus
    at: datetime
    actor: str
    department: Department | None = None
    item_code: str | None = None
    note: str = ""
    # Serialised as the model it is (SerializeAsAny): a third of the time of matching it against the union.
    detail: SerializeAsAny[AnyDetail] = Field(
        default_factory=NoDetail,
        validate_default=True,
        description="what the step adds to its status: the schema depends on the status (one detail schema per status)",
    )

    @field_validator("detail", mode="wrap")
    @classmethod
    def _detail_of_status(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        status = info.data.get("status")
        if status is None:  # the status itself is invalid, and that error says so
            return value
        return status_detail(status, value)

    def detail_as(self, model: type[D]) -> D:
        """The detail as the model a handler of this status expects (a TypeError for a step of another status)."""
        if not isinstance(self.detail, model):
            raise TypeError(f"a {self.status} step carries a {type(self.detail).__name__}, not a {model.__name__}")
        return self.detail

    def step_row(self, event_id: uuid.UUID) -> dict[str, Any]:
        """The step as the timeline projections (intake's and notify's) store it, keyed by the event's id."""
        return {
            "event_id": event_id,
            "case_id": self.case_id,
            "status": self.status,
            "at": self.at,
            "actor": self.actor,
            "department": self.department,
            "item_code": self.item_code,
            "note": self.note,
        }


EVENT_TYPES: dict[str, type[Event]] = {cls.event_type: cls for cls in (CaseReported, CaseDispatched, CaseStatusChanged)}


def derived_event_id(source_event_id: uuid.UUID | str, step: str) -> uuid.UUID:
    """Deterministic id for an event derived from another, so a replay produces the same id."""
    return uuid.uuid5(uuid.UUID(str(source_event_id)), step)


PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """Every mainland mobile number in a free text masked (138****5678)."""
    return PHONE.sub(r"\1****\2", text)


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""
