"""The committed example files are what the phrase banks compose to, and the held-out splits stay apart."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from gridloop.admission import compose_examples as ce
from gridloop.admission.admission_list import default_admission_list
from gridloop.admission.examples import (
    CV_FILE,
    HELDOUT2_FILE,
    HELDOUT3_FILE,
    HELDOUT_FILE,
    NOT_ADMITTED,
    NOT_ADMITTED_REASONS,
    OFF_LIST_FAMILIES,
    TRAIN_FILE,
    all_heldout_examples,
    heldout2_examples,
    heldout3_examples,
    train_examples,
)
from gridloop.admission.retraining import corrections_from_dicts


def _jsonl(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def test_committed_files_are_what_the_phrase_banks_compose_to() -> None:
    splits = ce.compose(ce.training_bank())
    expected = {
        TRAIN_FILE: splits["train"],
        HELDOUT_FILE: splits["heldout"],
        CV_FILE: splits["cv"],
        **ce.compose_blind_splits(),
    }
    assert set(expected) >= {HELDOUT2_FILE, HELDOUT3_FILE}
    for path, rows in expected.items():
        assert path.read_text(encoding="utf-8") == _jsonl(rows), f"{path.name} is stale: run compose_examples"


@pytest.mark.parametrize("split", [heldout2_examples, heldout3_examples])
def test_blind_held_out_splits_have_every_item_and_reason_and_share_no_text_with_training(split) -> None:
    examples = split()
    items = Counter(e.label for e in examples if e.admitted)
    reasons = Counter(e.reason for e in examples if e.label == NOT_ADMITTED)
    assert items == dict.fromkeys(default_admission_list().codes, 6)
    assert reasons == {r: 8 for r in NOT_ADMITTED_REASONS if r not in OFF_LIST_FAMILIES}
    assert not {e.text for e in examples} & {e.text for e in train_examples()}


def test_training_banks_add_situations_to_every_section_and_no_held_out_line() -> None:
    first = ce.read_bank(ce.PHRASEBANK)
    voices = ce.PHRASEBANK_MORE_TRAINING[:2]
    nearmiss = [ce.read_bank(path) for path in ce.PHRASEBANK_MORE_TRAINING[2:]]
    merged = ce.training_bank()
    for section in first:  # the two blind voices together wrote for every section
        added = [line for path in voices for line in ce.read_bank(path)[section]["train"]]
        assert len(added) == (20 if section.startswith("NA:") else 16)
    for section, lines in merged.items():
        expected = [
            *(first.get(section, {}).get("train", [])),
            *(line for path in voices for line in ce.read_bank(path).get(section, {}).get("train", [])),
            *(line for bank in nearmiss for line in bank.get(section, {}).get("train", [])),
        ]
        assert lines["train"] == expected
        assert lines["heldout"] == (first[section]["heldout"] if section in first else [])


def test_every_off_list_family_has_training_near_misses_and_a_place_to_go() -> None:
    bank = ce.training_bank()
    for reason in OFF_LIST_FAMILIES:
        assert len(bank["NA:" + reason]["train"]) >= 30, reason
        assert "请" in NOT_ADMITTED_REASONS[reason], reason  # says where to go instead
    assert len(OFF_LIST_FAMILIES) >= 12


@pytest.mark.parametrize("pools", ["HELDOUT2_POOLS", "HELDOUT3_POOLS"])
def test_blind_held_out_pools_are_shared_with_no_other_split(pools: str) -> None:
    names = ("TRAIN_POOLS", "HELDOUT_POOLS", "CV_POOLS", "HELDOUT2_POOLS", "HELDOUT3_POOLS")
    mine, others = getattr(ce, pools), [getattr(ce, n) for n in names if n != pools]
    for field in ("streets", "communities", "roads", "residents", "workers"):
        assert not set(getattr(mine, field)) & set().union(*(getattr(p, field) for p in others)), field


def test_retraining_refuses_a_text_of_any_held_out_split() -> None:
    for example in (heldout2_examples()[0], heldout3_examples()[0], all_heldout_examples()[0]):
        with pytest.raises(ValueError, match="held-out"):
            corrections_from_dicts([{"text": example.text, "label": "S02"}], default_admission_list())
