"""Resident-facing message templates, loaded from a data file so they can change without code changes."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

from gridloop.contracts.events import RESIDENT_VISIBLE


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Templates:
    by_step: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> Templates:
        raw = json.loads(path.read_text(encoding="utf-8"))
        by_step = {k: v for k, v in raw.items() if not k.startswith("_")}
        missing = RESIDENT_VISIBLE - by_step.keys()
        if missing:
            raise ValueError(f"{path}: no template for steps {sorted(missing)}")
        for step, text in by_step.items():
            list(string.Formatter().parse(text))  # raises on malformed placeholders
            if not text.strip():
                raise ValueError(f"{path}: template for {step!r} is empty")
        return cls(by_step)

    def render(self, step: str, context: dict[str, object]) -> str:
        return self.by_step[step].format_map(_Blank(context))
