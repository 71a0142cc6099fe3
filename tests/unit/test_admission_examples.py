"""The committed example files are what the phrase banks compose to, and the held-out splits stay apart."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from gridloop.admission import compose_examples as ce
from gridloop.admission.catalogue import default_admission_list
from gridloop.admission.examples import (
    CV_FILE,
    HELDOUT2_FILE,
    HELDOUT_FILE,
    NOT_ADMITTED,
    NOT_ADMITTED_REASONS,
    TRAIN_FILE,
    heldout2_examples,
    train_examples,
)
from gridloop.admission.retraining import corrections_from_dicts


def _jsonl(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def test_committed_files_are_what_the_phrase_banks_compose_to() -> None:
    splits = ce.compose(ce.parse_phrasebank(ce.PHRASEBANK.read_text(encoding="utf-8")))
    fresh = ce.compose_heldout2(ce.parse_phrasebank(ce.PHRASEBANK_HELDOUT2.read_text(encoding="utf-8")))
    expected = {
        TRAIN_FILE: splits["train"],
        HELDOUT_FILE: splits["heldout"],
        CV_FILE: splits["cv"],
        HELDOUT2_FILE: fresh,
    }
    for path, rows in expected.items():
        assert path.read_text(encoding="utf-8") == _jsonl(rows), f"{path.name} is stale: run compose_examples"


def test_fresh_held_out_split_has_every_item_and_reason_and_shares_no_text_with_training() -> None:
    fresh = heldout2_examples()
    items = Counter(e.label for e in fresh if e.admitted)
    reasons = Counter(e.reason for e in fresh if e.label == NOT_ADMITTED)
    assert items == dict.fromkeys(default_admission_list().codes, 6)
    assert reasons == dict.fromkeys(NOT_ADMITTED_REASONS, 8)
    assert not {e.text for e in fresh} & {e.text for e in train_examples()}


def test_fresh_held_out_pools_are_shared_with_no_other_split() -> None:
    others = (ce.TRAIN_POOLS, ce.HELDOUT_POOLS, ce.CV_POOLS)
    for field in ("streets", "communities", "roads", "residents", "workers"):
        fresh = set(getattr(ce.HELDOUT2_POOLS, field))
        assert not fresh & set().union(*(getattr(p, field) for p in others)), field


def test_retraining_refuses_a_fresh_held_out_text() -> None:
    text = heldout2_examples()[0].text
    with pytest.raises(ValueError, match="held-out"):
        corrections_from_dicts([{"text": text, "label": "S02"}], default_admission_list())
