"""The import rule of docs/ARCHITECTURE.md: lib/ imports only lib/ (and third-party packages), plugins never
import scripts/. Checked on the source text, at any indentation, so a lazy import cannot hide."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", re.MULTILINE)
FORBIDDEN = {"lib": ("scripts", "plugins", "bench", "tests"), "plugins": ("scripts", "bench", "tests")}


def imported(path: Path) -> set[str]:
    return {name.split(".")[0] for name in IMPORT.findall(path.read_text())}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_run_one_way(folder: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert len(files) > 5
    wrong = {str(path.relative_to(ROOT)): sorted(imported(path) & set(FORBIDDEN[folder])) for path in files}
    assert {name: found for name, found in wrong.items() if found} == {}


def test_the_check_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from scripts.convert import run\n    import plugins.convert\n")
    assert imported(module) == {"scripts", "plugins"}
