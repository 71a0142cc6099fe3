"""Admission classifier throughput: single `classify()` calls per second on one core.

    .venv/bin/python bench/classifier_bench.py [--rounds 5]

Reports wall-clock and process-CPU rates; on a shared machine the CPU rate is the one to compare, since
the wall clock also counts time other processes held the core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from threadpoolctl import threadpool_limits

from gridloop.admission.classifier import default_classifier
from gridloop.admission.examples import heldout_examples


def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"cpu {core}"
    return "unpinned"


def _run(texts: list[str], hints: list[str | None], rounds: int) -> tuple[list[float], list[float]]:
    classifier = default_classifier()
    for text in texts[:50]:  # warm up jieba and numpy
        classifier.classify(text)
    walls, cpus = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        for text, hint in zip(texts, hints, strict=True):
            classifier.classify(text, item_hint=hint)
        walls.append(len(texts) / (time.perf_counter() - w0))
        cpus.append(len(texts) / (time.process_time() - c0))
    return walls, cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    where = _pin_to_one_core()
    examples = heldout_examples()
    texts = [e.text for e in examples]
    hinted = [e.label if e.admitted else None for e in examples]
    print(f"admission classifier benchmark: {len(texts)} held-out reports x {args.rounds} rounds, {where}")
    print(f"{'mode':<14}{'median/s (cpu)':>16}{'min/s (cpu)':>13}{'median/s (wall)':>17}{'us/call (cpu)':>15}")
    with threadpool_limits(1):
        for mode, hints in (("no hint", [None] * len(texts)), ("with hint", hinted)):
            walls, cpus = _run(texts, hints, args.rounds)
            cpu = statistics.median(cpus)
            print(
                f"{mode:<14}{cpu:>16,.0f}{min(cpus):>13,.0f}{statistics.median(walls):>17,.0f}{1e6 / cpu:>15,.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
