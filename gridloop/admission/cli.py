"""`gridloop classify | evaluate | retrain`: the classifier from the command line, no services needed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from gridloop.admission.classifier import Classifier, default_classifier, default_model_path
from gridloop.admission.examples import (
    Example,
    ExampleError,
    cv_examples,
    heldout2_examples,
    heldout3_examples,
    heldout4_nearmiss_examples,
    heldout4_onlist_examples,
    heldout_examples,
    load_examples,
    violence_risk_examples,
)
from gridloop.admission.metrics import evaluate, format_comparison, format_reliability, format_table, reliability


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


SPLITS: dict[str, tuple[str, Callable[[], list[Example]]]] = {
    "heldout": ("held-out", heldout_examples),
    "fresh": ("fresh held-out (written blind)", heldout2_examples),
    "third": ("third held-out (written blind)", heldout3_examples),
    "pooled": (
        "first three held-out splits pooled",
        lambda: heldout_examples() + heldout2_examples() + heldout3_examples(),
    ),
    "nearmiss": ("fourth, near misses (written blind)", heldout4_nearmiss_examples),
    "onlist": ("fourth, on-list without keywords (written blind)", heldout4_onlist_examples),
    "violence": ("violence risk (written blind)", violence_risk_examples),
}


def evaluate_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridloop evaluate", description="Held-out metrics of the classifier.")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--split",
        choices=(*SPLITS, "all"),
        default="all",
        help="heldout: the first held-out split (345); fresh and third: the blind-written ones (426 each); "
        "pooled: those three; nearmiss, onlist, violence: the fourth blind split (issue #24; skipped while "
        "its files are absent); all (default): each",
    )
    parser.add_argument("--reliability", action="store_true", help="also print a calibration (reliability) table")
    parser.add_argument("--speed", action="store_true", help="only measure classifications per second on one core")
    parser.add_argument(
        "--file",
        type=Path,
        action="append",
        help="score a split file in the examples format (JSON Lines: text, label, reason?, danger?) instead of the "
        "shipped splits; repeatable; prints counts and rates only, never a report's text",
    )
    parser.add_argument(
        "--cv",
        action="store_true",
        help="print the cross-validation figures stored with the model (training split only): first stage and "
        "with the open-set check, and the reliability table before and after calibration",
    )
    args = parser.parse_args(argv or [])
    classifier = default_classifier()
    if args.speed:
        return _speed(classifier)
    if args.cv:
        return _print_cv(classifier, as_json=args.json)
    if args.file:
        try:
            examples = {str(path): load_examples(path, classifier.admission_list.codes) for path in args.file}
        except (OSError, ExampleError) as exc:
            print(f"gridloop evaluate: {exc}", file=sys.stderr)
            return 2
        titles = {name: name for name in examples}
    else:
        chosen = list(SPLITS) if args.split == "all" else [args.split]
        examples = {name: SPLITS[name][1]() for name in chosen}
        titles = {name: SPLITS[name][0] for name in chosen}
    results = {name: evaluate(classifier, rows) for name, rows in examples.items() if rows}
    tables = {name: reliability(classifier, examples[name]) for name in results} if args.reliability else {}
    if args.json:
        out_json = {
            name: {**m.to_dict(), **({"reliability": [asdict(b) for b in tables[name]]} if tables else {})}
            for name, m in results.items()
        }
        print(json.dumps(out_json, ensure_ascii=False, indent=2))
        return 0
    out = [format_table(m, titles[name]) for name, m in results.items()]
    out += [format_reliability(bins, titles[name]) for name, bins in tables.items()]
    print("\n\n".join(out))
    return 0


def _print_cv(classifier: Classifier, *, as_json: bool) -> int:
    cv = classifier.meta.get("cv")
    if not cv:
        print("gridloop evaluate: this model was trained without cross-validation figures", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(cv, ensure_ascii=False, indent=2))
        return 0
    lines = [
        f"cross-validation (training split only; {cv['rows']} out-of-fold decisions), model "
        f"{classifier.model_version}, threshold {classifier.threshold:.2f}, open-set check "
        f"{json.dumps(classifier.open_set.to_dict())}",
        "",
        f"{'':<16}{'item acc':>10}{'misroute':>10}{'triage':>9}{'NA recall':>11}{'on-list refused':>17}{'cost':>8}",
    ]
    for name in ("first_stage", "with_open_set"):
        m = cv[name]
        lines.append(
            f"{name:<16}{m['item_accuracy']:>10.3f}{m['misroute_rate']:>10.4f}{m['triage_rate']:>9.3f}"
            f"{m['not_admitted_recall']:>11.3f}{m['on_list_refused']:>17.3f}{m['cost_per_report']:>8.3f}"
        )
    for name, title in (("reliability_raw", "raw score"), ("reliability_calibrated", "calibrated (cross-fitted)")):
        lines += ["", f"reliability, {title} (triage excluded)", f"{'confidence':<14}{'n':>7}{'mean':>8}{'right':>8}"]
        for b in cv[name]:
            lines.append(f"{b['low']:.2f}-{b['high']:<9.2f}{b['n']:>7}{b['mean_confidence']:>8.3f}{b['right']:>8.3f}")
    print("\n".join(lines))
    return 0


def _speed(classifier: Classifier, rounds: int = 3, n: int = 1200) -> int:
    """Single classify() calls over `n` cross-validation texts (training side: measuring speed needs no held-out
    split), CPU time of this process (one core: BLAS is one thread for these small products); prints the best of
    `rounds`."""
    texts = [e.text for e in cv_examples()][::7][:n]
    classifier.classify(texts[0])  # load jieba
    rates = []
    for _ in range(rounds):
        start = time.process_time()
        for text in texts:
            classifier.classify(text)
        rates.append(len(texts) / max(time.process_time() - start, 1e-9))
    print(
        f"{len(texts)} reports x {rounds}: {max(rates):,.0f} classifications/s per core (CPU time; "
        f"median {sorted(rates)[len(rates) // 2]:,.0f}); target >= 2,000"
    )
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
