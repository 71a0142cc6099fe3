"""The admission list in force: operators replace it without a redeploy, every attempt is audited, and each
router replica follows the active version (loaded at start, on its own change, and by a periodic check)."""

from __future__ import annotations

import dataclasses
import logging
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.admission.admission_list import AdmissionItem, AdmissionList, AdmissionListError, parse_admission_list
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.delivery.db import Database
from services.router.tables import admission_list_audit, admission_lists

log = logging.getLogger(__name__)
SHIPPED = "shipped"  # who "uploaded" the list that ships with the code
_LOCK_KEY = zlib.crc32(b"router:admission-list")


class ActiveAdmissionList:
    """The list this process routes with; the shipped list until an operator's list is active."""

    def __init__(self, shipped: AdmissionList) -> None:
        self.shipped = shipped
        self.current = shipped

    @property
    def version(self) -> str:
        return self.current.version

    def get(self, code: str) -> AdmissionItem | None:
        return self.current.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.current

    async def refresh(self, conn: AsyncConnection) -> bool:
        """Follow the active version in the database; True if the list in force changed."""
        row = (
            await conn.execute(
                sa.select(admission_lists.c.version, admission_lists.c.tsv).where(admission_lists.c.active)
            )
        ).one_or_none()
        if row is None:
            return self.use(self.shipped)
        if row.version == self.current.version:
            return False
        return self.use(parse_admission_list(row.tsv))

    def use(self, admission_list: AdmissionList) -> bool:
        if admission_list.version == self.current.version:
            return False
        log.info("admission list %s now in force (was %s)", admission_list.version, self.current.version)
        self.current = admission_list
        return True


async def follow_active_list(active: ActiveAdmissionList, db: Database) -> None:
    """Keep this replica on the active version (run periodically); a failed check keeps the list in force."""
    async with db.engine.connect() as conn:
        await active.refresh(conn)


@dataclass(frozen=True)
class Replacement:
    admission_list: AdmissionList
    previous_version: str
    changed: bool


async def replace_admission_list(
    conn: AsyncConnection, *, tsv: str, operator: str, now: datetime, in_force: AdmissionList
) -> Replacement:
    """Validate and activate a new list; raises AdmissionListError (nothing changed) if the text is bad."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    new = parse_admission_list(tsv)
    previous = await conn.scalar(sa.select(admission_lists.c.version).where(admission_lists.c.active))
    previous = previous or in_force.version
    changed = new.version != previous
    if changed:
        await conn.execute(sa.update(admission_lists).where(admission_lists.c.active).values(active=False))
        await conn.execute(
            sa.insert(admission_lists).values(
                version=new.version, tsv=tsv, uploaded_by=operator, uploaded_at=now, active=True
            )
        )
    await _audit(
        conn,
        action="activated" if changed else "unchanged",
        version=new.version,
        previous=previous,
        operator=operator,
        now=now,
        detail=f"{len(new)} items",
    )
    return Replacement(new, previous, changed)


async def record_rejection(
    conn: AsyncConnection, *, error: AdmissionListError, operator: str, now: datetime, in_force: str
) -> None:
    await _audit(
        conn, action="rejected", version=None, previous=in_force, operator=operator, now=now, detail=str(error)
    )


async def _audit(
    conn: AsyncConnection, *, action: str, version: str | None, previous: str, operator: str, now: datetime, detail: str
) -> None:
    await conn.execute(
        sa.insert(admission_list_audit).values(
            action=action, version=version, previous_version=previous, operator=operator, at=now, detail=detail
        )
    )


async def audit_trail(conn: AsyncConnection, limit: int = 200) -> list[dict[str, Any]]:
    rows = await conn.execute(sa.select(admission_list_audit).order_by(admission_list_audit.c.id.desc()).limit(limit))
    return [r._asdict() for r in rows]


# ---- the classifier, bound to the list in force ------------------------------------------------------------


class ListBoundClassifier:
    """Wraps the trained classifier so that every decision uses the list in force: its version, and the
    department and name of each item. A code the model knows but the list no longer has goes to triage."""

    def __init__(self, classifier: Any, active: ActiveAdmissionList) -> None:
        self._classifier = classifier
        self._active = active

    @property
    def threshold(self) -> float:
        return self._classifier.threshold

    @property
    def list_version(self) -> str:
        return self._active.version

    def probabilities(self, text: str) -> dict[str, float]:
        return self._classifier.probabilities(text)

    def classify(self, description: str, item_hint: str | None = None) -> Any:
        decision = self._classifier.classify(description, item_hint)
        trained_on = getattr(self._classifier, "admission_list", self._active.shipped)
        return bind_to_list(decision, trained_on, self._active.current)


def bind_to_list(decision: Any, trained_on: AdmissionList, in_force: AdmissionList) -> Any:
    """The decision restated against the list in force."""
    if not dataclasses.is_dataclass(decision):  # a stand-in classifier's own decision type: leave it be
        return decision
    if decision.outcome != "admitted":
        return dataclasses.replace(decision, list_version=in_force.version)
    item = in_force.get(decision.item_code)
    if item is None:
        return dataclasses.replace(
            decision,
            outcome="triage",
            item_code=None,
            department=None,
            runner_up=decision.item_code,
            reason=f"事项 {decision.item_code} 不在现行准入清单 {in_force.version} 中，转人工研判",
            list_version=in_force.version,
        )
    trained = trained_on.get(item.code)
    reason = decision.reason
    if trained is None or (trained.department, trained.name_zh) != (item.department, item.name_zh):
        department = DEPARTMENT_NAMES_ZH.get(item.department, item.department)
        reason = f"属于社区工作准入事项 {item.code}「{item.name_zh}」，转{department}办理"
    return dataclasses.replace(decision, department=item.department, reason=reason, list_version=in_force.version)


async def load_active(active: ActiveAdmissionList, db: Database) -> None:
    """At start: take the active version if the database answers; otherwise keep the shipped list for now
    (the periodic check picks the active one up once the database is back)."""
    try:
        async with db.engine.connect() as conn:
            await active.refresh(conn)
    except Exception as exc:
        log.warning(
            "admission list not loaded at start (%s); routing with %s until the next check", exc, active.version
        )
