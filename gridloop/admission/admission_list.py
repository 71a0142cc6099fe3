"""The district's admission list (社区工作准入清单): the 63 items a community may forward to a department."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from gridloop.contracts.topics import DEPARTMENTS

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_LIST_PATH = DATA_DIR / "admission-list.tsv"
HEADER: tuple[str, ...] = ("code", "department", "name_zh", "name_en", "scope_zh", "resolve_hours")
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


def _fail(line_no: int, problem: str) -> AdmissionListError:
    return AdmissionListError(f"admission list line {line_no}: {problem}")


def _parse_item(line_no: int, fields: list[str]) -> AdmissionItem:
    if len(fields) != len(HEADER):
        raise _fail(line_no, f"expected {len(HEADER)} tab-separated columns, got {len(fields)}")
    code, department, name_zh, name_en, scope_zh, hours = (f.strip() for f in fields)
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
    return AdmissionItem(code, department, name_zh, name_en, scope_zh, resolve_hours)


def parse_admission_list(text: str) -> AdmissionList:
    """Parse and validate the TSV text of an admission list."""
    lines = text.splitlines()
    if not lines or tuple(c.strip() for c in lines[0].split("\t")) != HEADER:
        raise _fail(1, f"header must be {' / '.join(HEADER)} (tab-separated)")
    items: dict[str, AdmissionItem] = {}
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        item = _parse_item(line_no, line.split("\t"))
        if item.code in items:
            raise _fail(line_no, f"duplicate code {item.code}")
        items[item.code] = item
    if len(items) != EXPECTED_ITEMS:
        raise _fail(len(lines), f"expected exactly {EXPECTED_ITEMS} items, found {len(items)}")
    canonical = "\n".join("\t".join(str(getattr(i, f)) for f in HEADER) for i in items.values())
    version = "al-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
    grouped = {d: tuple(i for i in items.values() if i.department == d) for d in DEPARTMENTS}
    return AdmissionList(version=version, items=items, _by_department=grouped)


def load_admission_list(path: str | Path = DEFAULT_LIST_PATH) -> AdmissionList:
    return parse_admission_list(Path(path).read_text(encoding="utf-8"))


@cache
def default_admission_list() -> AdmissionList:
    """The shipped list, read once per process."""
    return load_admission_list(DEFAULT_LIST_PATH)
