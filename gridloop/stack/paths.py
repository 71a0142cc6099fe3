"""Where the local stack keeps its files: the repo's deploy/ folder and the git-ignored .gridloop/."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout this package was installed from (editable install), else the nearest one above cwd."""
    here = Path(__file__).resolve().parents[2]
    for candidate in (here, Path.cwd(), *Path.cwd().parents):
        if (candidate / "deploy" / "kafka" / "pom.xml").is_file():
            return candidate
    raise RuntimeError("cannot find the GridLoop checkout (no deploy/kafka/pom.xml); run from the repo root")


def home() -> Path:
    """Data, logs and pid files: $GRIDLOOP_HOME, default <repo>/.gridloop."""
    override = os.environ.get("GRIDLOOP_HOME")
    path = Path(override).resolve() if override else repo_root() / ".gridloop"
    path.mkdir(parents=True, exist_ok=True)
    return path


def deploy_dir() -> Path:
    return repo_root() / "deploy"


def logs_dir() -> Path:
    return _subdir("logs")


def run_dir() -> Path:
    return _subdir("run")


def _subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
