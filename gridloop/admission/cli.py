"""`gridloop classify | evaluate | retrain`: the classifier from the command line, no services needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from gridloop.admission.classifier import Classifier, default_classifier, default_model_path
from gridloop.admission.examples import all_heldout_examples, heldout2_examples, heldout3_examples, heldout_examples
from gridloop.admission.metrics import evaluate, format_comparison, format_table


def _error(record_id: Any, message: str) -> dict[str, Any]:
    return {"id": record_id, "error": message}


def classify_line(line: str, classifier: Classifier) -> dict[str, Any]:
    """One input line -> one output object (a decision, or an error for that line)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return _error(None, f"invalid JSON: {exc.msg}")
    if not isinstance(record, dict):
        return _error(None, "each line must be a JSON object")
    record_id = record.get("id")
    if record_id is not None and not isinstance(record_id, str | int):
        return _error(None, "'id' must be a string or an integer")
    description = record.get("description")
    if not isinstance(description, str) or not description.strip():
        return _error(record_id, "'description' must be a non-empty string")
    hint = record.get("item_hint")
    if hint is not None and not isinstance(hint, str):
        return _error(record_id, "'item_hint' must be a string or null")
    decision = classifier.classify(description, item_hint=hint)
    return {"id": record_id, **decision.to_dict()}


def classify_stream(stdin: TextIO, stdout: TextIO, classifier: Classifier) -> int:
    for line in stdin:
        if line.strip():
            stdout.write(json.dumps(classify_line(line, classifier), ensure_ascii=False) + "\n")
    stdout.flush()
    return 0


def classify_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gridloop classify",
        description='Classify JSON Lines from stdin ({"id", "description", "item_hint"?}); one JSON line out each.',
    )
    parser.parse_args(argv or [])
    return classify_stream(sys.stdin, sys.stdout, default_classifier())


def evaluate_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridloop evaluate", description="Held-out metrics of the classifier.")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--split",
        choices=("heldout", "fresh", "third", "pooled", "all"),
        default="all",
        help="heldout: the first held-out split (345); fresh and third: the blind-written ones (426 each); "
        "pooled: all three; all (default): each, then pooled",
    )
    args = parser.parse_args(argv or [])
    classifier = default_classifier()
    splits = {
        "heldout": heldout_examples,
        "fresh": heldout2_examples,
        "third": heldout3_examples,
        "pooled": all_heldout_examples,
    }
    chosen = list(splits) if args.split == "all" else [args.split]
    results = {name: evaluate(classifier, splits[name]()) for name in chosen}
    if args.json:
        print(json.dumps({name: m.to_dict() for name, m in results.items()}, ensure_ascii=False, indent=2))
    else:
        titles = {
            "heldout": "held-out",
            "fresh": "fresh held-out (written blind)",
            "third": "third held-out (written blind)",
            "pooled": "all held-out splits",
        }
        print("\n\n".join(format_table(m, titles[name]) for name, m in results.items()))
    return 0


def _read_corrections(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path} line {line_no}: invalid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise SystemExit(f"{path} line {line_no}: each line must be a JSON object")
        rows.append(row)
    return rows


def retrain_main(argv: list[str] | None = None) -> int:
    from gridloop.admission.retraining import retrain

    parser = argparse.ArgumentParser(
        prog="gridloop retrain",
        description="Retrain with operator corrections; print held-out metrics before and after; save the model.",
    )
    parser.add_argument("--corrections", type=Path, required=True, help="JSON Lines in the examples format")
    parser.add_argument("--out", type=Path, help="model path (default .gridloop/models/classifier-<version>.npz)")
    args = parser.parse_args(argv or [])
    rows = _read_corrections(args.corrections)
    try:
        before, after, classifier = retrain(rows)
    except ValueError as exc:
        print(f"gridloop retrain: {exc}", file=sys.stderr)
        return 2
    print(f"retrained with {len(rows)} corrections\n")
    print(format_comparison(before, after))
    path = classifier.save(args.out or default_model_path(classifier.list_version))
    print(f"\nsaved {path}; use it with GRIDLOOP_CLASSIFIER_MODEL={path}")
    return 0
