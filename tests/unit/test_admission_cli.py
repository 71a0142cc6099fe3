"""`gridloop classify` on good and bad JSON Lines; `gridloop evaluate --json`."""

from __future__ import annotations

import io
import json

import pytest

from gridloop.admission import cli
from tests.unit.test_admission_classifier import trained_classifier

LINES = [
    '{"id": "r1", "description": "金牛区西华街道花照壁社区3栋门口的路灯坏了好几天"}',
    '{"id": "r2", "description": "居民要社区开亲属关系证明，去银行取存款"}',
    '{"id": "r3", "description": "楼下烧烤摊半夜划拳吵得很", "item_hint": "S02"}',
    "this is not json",
    '{"id": "r5"}',
    '{"id": "r6", "description": "   "}',
    '{"id": "r7", "description": 42}',
    '{"id": "r8", "description": "路灯不亮", "item_hint": 7}',
    '["a list"]',
    "",
    '{"id": 9, "description": "楼道里堆满了纸壳和旧家具"}',
]


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setattr(cli, "default_classifier", trained_classifier)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(LINES) + "\n"))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert cli.classify_main([]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_non_blank_line_gets_one_answer_in_order(classified: list[dict]) -> None:
    assert [r["id"] for r in classified] == ["r1", "r2", "r3", None, "r5", "r6", "r7", "r8", None, 9]


def test_good_lines_get_decisions(classified: list[dict]) -> None:
    by_id = {r["id"]: r for r in classified}
    assert (by_id["r1"]["outcome"], by_id["r1"]["item_code"], by_id["r1"]["department"]) == (
        "admitted",
        "S02",
        "street_office",
    )
    assert by_id["r2"]["outcome"] == "not_admitted" and by_id["r2"]["item_code"] is None
    assert by_id["r3"]["outcome"] == "triage"
    assert by_id[9]["item_code"] == "S11"
    for record in (by_id["r1"], by_id["r2"], by_id["r3"], by_id[9]):
        assert {"outcome", "item_code", "department", "confidence", "reason"} <= record.keys()
        assert 0.0 <= record["confidence"] <= 1.0


def test_bad_lines_get_errors_not_a_crash(classified: list[dict]) -> None:
    errors = [r for r in classified if "error" in r]
    assert [r["id"] for r in errors] == [None, "r5", "r6", "r7", "r8", None]
    assert all(set(r) == {"id", "error"} for r in errors)


def test_output_keeps_chinese_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "default_classifier", trained_classifier)
    out = io.StringIO()
    cli.classify_stream(io.StringIO(LINES[1]), out, trained_classifier())
    assert "不属于社区工作准入事项" in out.getvalue()


def test_evaluate_prints_json_metrics(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(cli, "default_classifier", trained_classifier)
    assert cli.evaluate_main(["--json"]) == 0
    splits = json.loads(capsys.readouterr().out)
    assert {name: m["n"] for name, m in splits.items()} == {
        "heldout": 345,
        "fresh": 426,
        "third": 426,
        "pooled": 1197,
        "nearmiss": 443,
        "onlist": 200,
        "violence": 82,
        "nearmiss5": 454,
        "onlist5": 196,
        "violence5": 89,
    }
    assert splits["violence"]["danger_reports"] == 82
    for metrics in splits.values():
        assert {"item_accuracy", "misroute_rate", "triage_rate", "threshold", "confusion"} <= metrics.keys()
    assert cli.evaluate_main(["--json", "--split", "fresh"]) == 0
    assert json.loads(capsys.readouterr().out).keys() == {"fresh"}
