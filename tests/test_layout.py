"""The import rules of docs/ARCHITECTURE.md, checked on the source text at any indentation (a lazy import cannot
hide): lib/ imports only lib/ (and third-party packages), plugins never import scripts/; no import cycle between
files or between packages; convert's and evaluate's side of lib/ (lib/model, lib/swap, lib/evaluation) never
reaches into lib/training; a command's scripts import no other command's, except demo, which runs the others
through their args and run modules."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", re.MULTILINE)
FROM = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+\(?([\w,\s]+?)\)?\s*$", re.MULTILINE)
FORBIDDEN = {"lib": ("scripts", "plugins", "bench", "tests"), "plugins": ("scripts", "bench", "tests")}
OURS = ("lib", "plugins", "scripts")
# What never imports lib/training: a saved model, the swap and its measures are read and used without it.
WITHOUT_TRAINING = ("lib/model", "lib/swap.py", "lib/evaluation", "lib/frames.py", "lib/preview.py")
COMMANDS = ("convert", "demo", "evaluate", "extract", "tools", "train")


def imported(path: Path) -> set[str]:
    return {name.split(".")[0] for name in IMPORT.findall(path.read_text())}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each of our modules → ours it imports (a `from package import module` counts as the module)."""
    paths = {module_name(path, root): path for top in OURS for path in sorted((root / top).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        text = path.read_text()
        found = {base for base in IMPORT.findall(text) if base in paths}
        for base, items in FROM.findall(text):
            found |= {f"{base}.{item}" for item in re.split(r"[\s,]+", items) if f"{base}.{item}" in paths}
        graph[name] = found - {name}
    return graph


def package_of(module: str, graph: dict[str, set[str]]) -> str:
    return module if any(other.startswith(module + ".") for other in graph) else module.rpartition(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            part = []
            while True:
                other = stack.pop()
                part.append(other)
                if other == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package → packages its modules import, leaving out a package's imports of its own parents or children."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = package_of(module, graph)
        for target in targets:
            theirs = package_of(target, graph)
            if not (mine == theirs or mine.startswith(theirs + ".") or theirs.startswith(mine + ".")):
                packages.setdefault(mine, set()).add(theirs)
    return packages


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


def test_no_import_cycle_between_files_or_packages() -> None:
    graph = import_graph()
    assert len(graph) > 100 and "scripts.convert.converter" in graph["scripts.convert.run"]
    assert cycles(graph) == []
    assert cycles(package_graph(graph)) == []


def test_the_cycle_check_finds_cycles(tmp_path: Path) -> None:
    """A file cycle through a lazy `from package import module`, and a package cycle made of no file cycle."""
    for name, text in {"lib/__init__.py": "", "lib/a/__init__.py": "", "lib/b/__init__.py": "",
                       "lib/a/one.py": "from lib.b import two\n", "lib/a/three.py": "",
                       "lib/b/two.py": "def f():\n    from lib.a.one import g\n",
                       "lib/b/four.py": "import lib.a.three\n", "plugins/__init__.py": "",
                       "plugins/five.py": "", "scripts/__init__.py": "",
                       "scripts/six.py": "import lib.b.four\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["lib.a.one", "lib.b.two"]]
    (tmp_path / "lib/b/two.py").write_text("")  # lib.a → lib.b (one → two) and lib.b → lib.a (four → three)
    graph = import_graph(tmp_path)
    assert cycles(graph) == [] and cycles(package_graph(graph)) == [["lib.a", "lib.b"]]


def test_convert_and_evaluate_do_not_reach_into_training() -> None:
    graph = import_graph()
    wrong = {module: sorted(target for target in targets if target.startswith("lib.training"))
             for module, targets in graph.items()
             if any(module == module_name(ROOT / where) or module.startswith(module_name(ROOT / where) + ".")
                    for where in WITHOUT_TRAINING)}
    assert {module: found for module, found in wrong.items() if found} == {}


def test_a_command_imports_no_other_command() -> None:
    """scripts/<command>/ imports shared scripts modules and its own; demo may run the others' args and run."""
    graph = import_graph()
    wrong = {}
    for module, targets in graph.items():
        parts = module.split(".")
        if parts[0] != "scripts" or len(parts) < 2 or parts[1] not in COMMANDS:
            continue
        for target in targets:
            other = target.split(".")
            if other[0] == "scripts" and len(other) >= 2 and other[1] in COMMANDS and other[1] != parts[1]:
                if not (parts[1] == "demo" and len(other) == 3 and other[2] in ("args", "run")):
                    wrong.setdefault(module, []).append(target)
    assert wrong == {}
