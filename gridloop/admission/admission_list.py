"""The district's admission list (社区工作准入清单): the 63 items a community may forward to a department."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from gridloop.contracts.topics import DEPARTMENTS

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_LIST_PATH = DATA_DIR / "admission-list.tsv"
HEADER: tuple[str, ...] = ("code", "department", "name_zh", "name_en", "scope_zh", "resolve_hours")
# Optional last column: who may see an item's cases outside the departments (docs/open311.md). A list without it,
# or an item with an empty or unknown value, is personal: nothing about its cases is shown to the public.
VISIBILITY_COLUMN = "visibility"
Visibility = Literal["personal", "public"]
EXPECTED_ITEMS = 63


class AdmissionListError(ValueError):
    """The admission list file is malformed; the message names the line and the problem."""


@dataclass(frozen=True, slots=True)
class AdmissionItem:
    code: str
    department: str
    name_zh: str
    name_en: str
    scope_zh: str
    resolve_hours: int
    visibility: Visibility = "personal"

    @property
    def personal(self) -> bool:
        return self.visibility != "public"


@dataclass(frozen=True)
class AdmissionList:
    version: str
    items: dict[str, AdmissionItem]
    _by_department: Mapping[str, tuple[AdmissionItem, ...]] = field(repr=False, compare=False, default_factory=dict)

    def get(self, code: str) -> AdmissionItem | None:
        return self.items.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.items

    def __len__(self) -> int:
        return len(self.items)

    def by_department(self) -> dict[str, tuple[AdmissionItem, ...]]:
        """Items grouped by department, in list order."""
        return dict(self._by_department)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.items)

    def is_personal(self, code: str | None) -> bool:
        """True unless `code` is an item of this list marked public: an unknown or missing item is personal."""
        item = self.items.get(code) if code else None
        return item is None or item.personal

    @property
    def public_codes(self) -> frozenset[str]:
        return frozenset(code for code, item in self.items.items() if not item.personal)


def _fail(line_no: int, problem: str) -> AdmissionListError:
    return AdmissionListError(f"admission list line {line_no}: {problem}")


def _parse_item(line_no: int, fields: list[str], columns: int) -> AdmissionItem:
    if len(fields) != columns:
        raise _fail(line_no, f"expected {columns} tab-separated columns, got {len(fields)}")
    code, department, name_zh, name_en, scope_zh, hours = (f.strip() for f in fields[: len(HEADER)])
    visibility: Visibility = "public" if columns > len(HEADER) and fields[-1].strip() == "public" else "personal"
    if not code:
        raise _fail(line_no, "empty code")
    if department not in DEPARTMENTS:
        raise _fail(line_no, f"unknown department {department!r} (expected one of {', '.join(DEPARTMENTS)})")
    if not name_zh:
        raise _fail(line_no, f"item {code}: empty name_zh")
    if not name_en:
        raise _fail(line_no, f"item {code}: empty name_en")
    try:
        resolve_hours = int(hours)
    except ValueError:
        raise _fail(line_no, f"item {code}: resolve_hours {hours!r} is not an integer") from None
    if resolve_hours <= 0:
        raise _fail(line_no, f"item {code}: resolve_hours must be positive, got {resolve_hours}")
    return AdmissionItem(code, department, name_zh, name_en, scope_zh, resolve_hours, visibility)


def parse_admission_list(text: str) -> AdmissionList:
    """Parse and validate the TSV text of an admission list."""
    lines = text.splitlines()
    header = tuple(c.strip() for c in lines[0].split("\t")) if lines else ()
    if header not in (HEADER, (*HEADER, VISIBILITY_COLUMN)):
        raise _fail(1, f"header must be {' / '.join(HEADER)} [/ {VISIBILITY_COLUMN}] (tab-separated)")
    items: dict[str, AdmissionItem] = {}
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        item = _parse_item(line_no, line.split("\t"), len(header))
        if item.code in items:
            raise _fail(line_no, f"duplicate code {item.code}")
        items[item.code] = item
    if len(items) != EXPECTED_ITEMS:
        raise _fail(len(lines), f"expected exactly {EXPECTED_ITEMS} items, found {len(items)}")
    # Personal (the default) adds nothing, so a list without the column keeps the version it had before the column.
    canonical = "\n".join(
        "\t".join(str(getattr(i, f)) for f in HEADER) + ("" if i.personal else "\tpublic") for i in items.values()
    )
    version = "al-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
    grouped = {d: tuple(i for i in items.values() if i.department == d) for d in DEPARTMENTS}
    return AdmissionList(version=version, items=items, _by_department=grouped)


def load_admission_list(path: str | Path = DEFAULT_LIST_PATH) -> AdmissionList:
    return parse_admission_list(Path(path).read_text(encoding="utf-8"))


@cache
def default_admission_list() -> AdmissionList:
    """The shipped list, read once per process."""
    return load_admission_list(DEFAULT_LIST_PATH)


def is_personal(item_code: str | None, admission_list: AdmissionList | None = None) -> bool:
    """Whether cases of this item are about a person (a family, a patient, a victim, a household's money): never
    shown to the public and never merged with another case. Unknown or missing items count as personal."""
    return (admission_list or default_admission_list()).is_personal(item_code)
