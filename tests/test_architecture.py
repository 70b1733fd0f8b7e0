"""The core's shape, checked: stages import only from earlier stages, no import circles, no Streamlit,
no imports by name at run time, every module importable on its own, and every area declared once."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analysis.areas.registry import AREAS

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "analysis"
# Each stage may import from itself and from the stages listed (the pipeline reads left to right).
MAY_IMPORT = {
    "stats": {"stats"},
    "schema": {"stats"},
    "engine": {"engine", "schema"},
    "ingest": {"ingest", "engine", "schema", "stats"},
    "cohort": {"cohort", "ingest", "engine", "schema", "stats"},
    "areas": {"areas", "cohort", "ingest", "engine", "schema", "stats"},
    "outputs": {"outputs", "areas", "cohort", "ingest", "engine", "schema", "stats"},
    "demo": {"schema"},
    "cli": {"outputs", "areas", "cohort", "ingest", "engine", "schema", "stats", "demo"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every module of the project this file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import; the core imports by absolute name"
            found |= {
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                for alias in node.names
            }
    return {name for name in found if name.split(".")[0] in ("analysis", "ui", "views", "streamlit")}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def import_graph() -> dict[str, set[str]]:
    return {name: {m for m in imported_modules(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_the_core_never_imports_streamlit_or_the_app():
    leaks = {
        name: sorted(m for m in imported_modules(path) if m.split(".")[0] in ("streamlit", "ui", "views"))
        for name, path in MODULES.items()
    }
    assert not {name: found for name, found in leaks.items() if found}


def test_each_stage_imports_only_from_earlier_stages():
    wrong = {}
    for name, imports in import_graph().items():
        allowed = MAY_IMPORT.get(stage(name))
        if allowed is None:
            continue
        later = sorted(m for m in imports if stage(m) not in allowed | {"package"})
        if later:
            wrong[name] = later
    assert not wrong


def test_areas_do_not_borrow_from_each_other_except_claims_and_the_timeline():
    """Claims test the other areas' results, and the timeline draws one course's lab grades; other areas
    share code only through the cohort and the statistics below them."""
    borrowed = {}
    for name, imports in import_graph().items():
        if (
            stage(name) != "areas"
            or name.count(".") < 2
            or name.split(".")[2] in ("claims", "timeline", "registry", "measured")
        ):
            continue
        own = name.split(".")[2]
        others = sorted(
            m
            for m in imports
            if stage(m) == "areas"
            and m.count(".") >= 2
            and m.split(".")[2] not in (own, "base", "charts", "literature")
        )
        if others:
            borrowed[name] = others
    assert not borrowed


def test_there_is_no_import_circle():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return path + [node, child]
            if child not in state:
                circle = visit(child, path + [node])
                if circle:
                    return circle
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            circle = visit(module, [])
            assert circle is None, " -> ".join(circle)


def test_no_module_imports_by_name_at_run_time():
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        assert "importlib" not in text and "__import__" not in text, name


@pytest.mark.parametrize("chunk", range(2))
def test_every_module_imports_on_its_own(chunk):
    """In a fresh interpreter each, so that no module relies on another having been imported first."""
    names = sorted(set(MODULES) - {"analysis.__main__"})[chunk::2]  # __main__ runs the command line

    def imports_alone(name: str) -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        return name, done.stderr.strip().splitlines()[-1] if done.returncode else ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = {name: error for name, error in pool.map(imports_alone, names) if error}
    assert not failures


def test_every_area_is_declared_once_with_what_the_outputs_need():
    keys = [area.key for area in AREAS]
    assert len(keys) == len(set(keys))
    assert {"claims", "clearance", "adverse_events", "relapse", "labs"} <= {a.key for a in AREAS if a.summary}
    for area in AREAS:
        assert area.report is not None and area.title and area.report_title
        if area.settings is not None:
            assert area.settings.from_settings({}) == area.settings()


def test_the_command_line_and_the_json_summary_load_no_chart_library():
    """Start-up: `--help` and `validate` need no statistics or charts, the JSON summary no charts."""
    probe = (
        "import sys, analysis.cli, analysis.cohort.loading, analysis.outputs.summary; "
        "print(sorted(m for m in ('plotly', 'kaleido') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
