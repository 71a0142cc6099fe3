"""Export the registry as JSON: `python -m gridloop.registry [path]` (stdout when no path)."""

from __future__ import annotations

import sys
from pathlib import Path

from gridloop.registry import default_registry


def main(argv: list[str]) -> int:
    text = default_registry().to_json(indent=1)
    if argv:
        Path(argv[0]).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
