"""`gridloop registry export | import` on a database of its own: the export's files import, a dry run previews
and changes nothing, the same files again change nothing, problems are printed by file and place (exit 1)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from gridloop.cli import main
from gridloop.ops.migrate import upgrade
from tests.support.namespace import drop_database

pytestmark = pytest.mark.integration


@pytest.fixture
def database(ns: Any) -> Any:
    url = f"{ns.database_urls['intake']}_cli{uuid.uuid4().hex[:6]}"
    upgrade("intake", url)
    yield url

    asyncio.run(drop_database(url))


def test_the_exported_district_imports_once_and_then_changes_nothing(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "export", "--generated", str(tmp_path)]) == 0
    files = [
        f"--{kind}={tmp_path / name}"
        for kind, name in (
            ("communities", "communities.geojson"),
            ("grids", "grids.geojson"),
            ("workers", "workers.csv"),
            ("streets", "streets.geojson"),
        )
    ]
    base = ["registry", "import", f"--database-url={database}", "--operator=测试", *files]
    capsys.readouterr()

    assert main([*base, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "+ grid JN-G0001" in dry and "dry run: {'street': {'added': 13}, 'community': {'added': 108}" in dry
    assert main(base) == 0
    assert (
        "applied: {'street': {'added': 13}, 'community': {'added': 108}, 'grid': {'added': 998}, "
        "'worker': {'added': 1438}}" in capsys.readouterr().out
    )
    assert main(base) == 0
    assert "no changes: the files describe the registry in force" in capsys.readouterr().out

    workers = tmp_path / "workers.csv"
    lines = workers.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace(",true", ",false")  # line 6 of the file: a worker leaves
    lines[9] = lines[9].replace("JN-G", "XX-G")  # line 10: on a grid the file does not have
    workers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(base) == 1
    err = capsys.readouterr().err
    assert "workers: line 10: worker JN-W0009: grid XX-G" in err and "nothing changed" in err

    lines[9] = lines[9].replace("XX-G", "JN-G")
    workers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(base) == 0
    assert "applied: {'worker': {'deactivated': 1}}" in capsys.readouterr().out


def test_the_registry_in_force_exports_with_its_boundaries_and_imports_back_unchanged(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generated, exported = tmp_path / "generated", tmp_path / "exported"
    assert main(["registry", "export", f"--database-url={database}", str(exported)]) == 1  # nothing imported yet
    assert main(["registry", "export", "--generated", str(generated)]) == 0
    assert main(["registry", "import", f"--database-url={database}", *_files(generated)]) == 0
    capsys.readouterr()

    assert main(["registry", "export", f"--database-url={database}", str(exported)]) == 0
    streets = json.loads((exported / "streets.geojson").read_text(encoding="utf-8"))["features"]
    communities = json.loads((exported / "communities.geojson").read_text(encoding="utf-8"))["features"]
    assert len(streets) == 13 and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in streets)
    assert len(communities) == 108 and all(f["geometry"] is not None for f in communities)
    # The stored boundaries are the imported ones, exactly (streets come out in name order): importing the export
    # changes nothing.
    for name in ("communities.geojson", "grids.geojson", "workers.csv"):
        assert (exported / name).read_bytes() == (generated / name).read_bytes(), name
    imported = json.loads((generated / "streets.geojson").read_text(encoding="utf-8"))["features"]
    assert sorted(streets, key=str) == sorted(imported, key=str)
    assert main(["registry", "import", f"--database-url={database}", *_files(exported)]) == 0
    assert "no changes" in capsys.readouterr().out


def _files(directory: Path) -> list[str]:
    return [f"--{kind}={directory / f'{kind}.geojson'}" for kind in ("communities", "grids", "streets")] + [
        f"--workers={directory / 'workers.csv'}"
    ]
