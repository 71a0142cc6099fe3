"""The admission list loads, and every way it can be malformed names the offending line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridloop.admission.admission_list import (
    DEFAULT_LIST_PATH,
    AdmissionListError,
    default_admission_list,
    is_personal,
    load_admission_list,
)

SHIPPED = DEFAULT_LIST_PATH.read_text(encoding="utf-8").splitlines()


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "list.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _with_line(line_no: int, new: str) -> list[str]:
    lines = list(SHIPPED)
    lines[line_no - 1] = new
    return lines


def test_shipped_list_has_63_items_in_three_departments() -> None:
    admission_list = default_admission_list()
    assert len(admission_list.items) == 63
    assert set(admission_list.by_department()) == {"police", "finance", "street_office"}
    assert sum(len(v) for v in admission_list.by_department().values()) == 63
    assert admission_list.get("S12").name_zh == "电动自行车违规充电"
    assert admission_list.get("X99") is None


def test_version_is_a_stable_content_hash(tmp_path: Path) -> None:
    version = default_admission_list().version
    assert version.startswith("al-") and len(version) == 11
    assert load_admission_list(_write(tmp_path, SHIPPED)).version == version
    changed = _with_line(2, SHIPPED[1].replace("\t72", "\t48"))
    assert load_admission_list(_write(tmp_path, changed)).version != version


def test_items_are_immutable() -> None:
    item = default_admission_list().get("P01")
    with pytest.raises(AttributeError):
        item.resolve_hours = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("lines", "line_no", "problem"),
    [
        (["code\tdept\tname_zh\tname_en\tscope_zh\tresolve_hours\tvisibility", *SHIPPED[1:]], 1, "header"),
        (_with_line(5, SHIPPED[4].replace("police", "fire_brigade")), 5, "unknown department"),
        (_with_line(7, "P06\tpolice\t\tDomestic violence\t家暴求助或线索\t6\tpersonal"), 7, "empty name_zh"),
        (_with_line(9, SHIPPED[8].rsplit("\t", 2)[0] + "\tsoon\tpersonal"), 9, "not an integer"),
        (_with_line(10, SHIPPED[9].rsplit("\t", 2)[0] + "\t0\tpersonal"), 10, "must be positive"),
        (_with_line(11, SHIPPED[10].rsplit("\t", 2)[0] + "\t-3\tpersonal"), 11, "must be positive"),
        (_with_line(12, SHIPPED[2]), 12, "duplicate code P02"),
        (_with_line(13, "P12\tpolice\t院落交通秩序"), 13, "columns"),
        (SHIPPED[:-1], 63, "exactly 63 items, found 62"),
    ],
    ids=[
        "header",
        "department",
        "empty-name",
        "hours-not-int",
        "hours-zero",
        "hours-negative",
        "duplicate",
        "columns",
        "count",
    ],
)
def test_malformed_list_names_the_line(tmp_path: Path, lines: list[str], line_no: int, problem: str) -> None:
    with pytest.raises(AdmissionListError) as info:
        load_admission_list(_write(tmp_path, lines))
    assert f"line {line_no}:" in str(info.value)
    assert problem in str(info.value)


def test_personal_items_are_marked_and_anything_unmarked_counts_as_personal(tmp_path: Path) -> None:
    shipped = default_admission_list()
    # The list: police items, 家暴, 精神障碍, 走失, 纠纷, 涉毒, 诈骗, 困境儿童, 独居老人, 残疾人, subsidies.
    for code in ("P01", "P05", "P06", "P07", "P08", "P09", "P10", "P18", "F01", "F05", "F11", "F15",
                 "S17", "S18", "S19", "S20", "S30"):
        assert is_personal(code), code
    for code in ("S01", "S02", "S03", "S08", "S12", "F13"):
        assert not is_personal(code), code
    assert is_personal("X99") and is_personal(None), "an item not on the list is personal"
    assert all(item.department != "police" for item in shipped.items.values() if item.code in shipped.public_codes)

    without_column = [line.rsplit("\t", 1)[0] for line in SHIPPED]
    old_format = load_admission_list(_write(tmp_path, without_column))
    assert old_format.public_codes == frozenset(), "a list without the column shows nothing"
    assert old_format.version != shipped.version, "visibility is part of the version"
    unknown = [line.replace("\tpublic", "\tpublique") for line in SHIPPED]
    assert load_admission_list(_write(tmp_path, unknown)).public_codes == frozenset()
    one_public = [line + ("\tpublic" if line.startswith("S03\t") else "") for line in without_column]
    one_public[0] += "\tvisibility"
    one_public = [line if line.count("\t") == 6 else line + "\t" for line in one_public]
    assert load_admission_list(_write(tmp_path, one_public)).public_codes == {"S03"}
