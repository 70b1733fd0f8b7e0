"""Mutation testing of the privacy rule, the verdict rules, the interval, survival and month rules.

Each mutant is one small deliberate fault (a comparison turned, a constant moved by 1 or 0.01, `and`
for `or`, a condition dropped, a value returned as None, ...) written into a copy of the project;
the module's tests are then run on that copy. A mutant the tests still pass is a survivor: a fault
that could ship unnoticed. Run on demand, not in CI:

    .venv/bin/python tools/mutation.py                       # every target, one worker
    .venv/bin/python tools/mutation.py --module suppression -j 2
    .venv/bin/python tools/mutation.py --module claims --list   # the mutants, not run

The working tree is never modified: every worker copies the project into a temporary folder.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

# What is mutated and which tests must catch it. `functions`: only these functions of the file
# (None: the whole module). Edit this table when the modules move.
TARGETS: dict[str, dict] = {
    "suppression": {
        "file": "analysis/stats/suppression.py",
        "functions": None,
        "tests": [
            "tests/test_boundaries_suppression.py",
            "tests/test_suppression.py",
            "tests/test_chart_suppression.py",
        ],
    },
    "stats": {
        "file": "analysis/stats/intervals.py",
        "functions": None,
        "tests": ["tests/test_boundaries_stats.py", "tests/test_claims.py"],
    },
    "survival": {
        "file": "analysis/stats/survival.py",
        "functions": None,
        "tests": ["tests/test_boundaries_survival.py", "tests/test_survival.py"],
    },
    "claims": {
        "file": "analysis/areas/claims/compute.py",
        "functions": ["decide", "one_sided_upper", "courses_to_rule_out", "with_rare_event_bound"],
        "tests": ["tests/test_boundaries_claims.py", "tests/test_claims.py"],
    },
    "cohort": {
        "file": "analysis/engine/derivations.py",
        "functions": ["month", "band", "age_band", "last_visit_days"],
        "tests": ["tests/test_boundaries_cohort.py", "tests/test_cohort.py"],
    },
    "validation": {
        "file": "analysis/ingest/validation.py",
        # the exclusion rules and their counts (rows read = rows kept + rows excluded, per reason)
        "functions": [
            "_parse_number",
            "_check_one_of",
            "_report_malformed",
            "_exclude_blank_rows",
            "exclude_duplicate_courses",
            "exclude_orphans",
            "exclude",
            "count_rows",
            "count_excluded",
            "rows_read",
            "rows_excluded",
        ],
        "tests": ["tests/test_boundaries_validation.py", "tests/test_validation.py", "tests/test_broken_files.py"],
    },
    "labs": {
        "file": "analysis/areas/labs/compute.py",
        "functions": ["ctcae_grade", "_broadcast", "_multiples", "grade_rows"],
        "tests": ["tests/test_boundaries_labs.py", "tests/test_labs.py"],
    },
}

# Mutants that cannot change behaviour, by "module: function: before -> after" (as --list prints them).
EQUIVALENT: dict[str, str] = {
    "cohort: band: values > edges[1] -> values >= edges[1]": "a value at the upper edge is taken by the case before",
    "cohort: band: 1 -> 0 #3": "values up to the upper edge are taken by the cases before",
    "survival: fit_km_by_group: v not in ordered -> True": "a repeated key keeps its first place in the dict",
    "survival: cox_hazard_ratios: True -> False": "lifelines' batch_mode changes the fitting route, not the fit",
    "survival: _float: pd.isna(value) -> False": "the curve's bounds are never NaN (_km_curve fills them)",
    "survival: _km_curve: 0.0 -> -0.01": "once S is 0 its bounds are 0 for any finite Greenwood sum",
    "survival: _km_curve: 0.0 -> 0.01": "once S is 0 its bounds are 0 for any finite Greenwood sum",
    "suppression: inferred_totals: c != part and (values[c] >= values[part]).all() and "
    "(not values[c].equals(values[part])) -> (values[c] >= values[part]).all() and "
    "(not values[c].equals(values[part]))": "a column equals itself",
    "suppression: classify_columns: words <= _LABEL_WORDS -> words < _LABEL_WORDS": "no name holds every label word",
    "suppression: hidden_shares: 0 -> 1": "n of 1-4 always has k or n - k of 1-4",
    "suppression: hidden_shares: too_few | small_counts(k, threshold) -> small_counts(k, threshold)": "n of 1-4 always has k or n - k of 1-4",
    "suppression: is_small: not np.isnan(value) and 0 < value < threshold -> 0 < value < threshold": "NaN fails every comparison",
    "suppression: suppress_count: isinstance(n, (float, np.floating)) and (not np.isnan(n)) and float(n).is_integer() -> "
    "isinstance(n, (float, np.floating)) and float(n).is_integer()": "NaN is not an integer",
    "suppression: plain: isinstance(value, (float, np.floating)) and (not np.isnan(value)) and "
    "float(value).is_integer() -> isinstance(value, (float, np.floating)) and float(value).is_integer()": "NaN is not an integer",
    "suppression: suppress_table: primary | complement -> primary #2": "a complement cell is shown 'suppressed' either way",
    "suppression: count_label: 0 -> -1": "the first of one label is the last",
    "suppression: hidden_bars: 0 -> -1": "the first of one row is the last",
    "suppression: bar_heights: threshold or 0 -> threshold": "without a threshold no bar is hidden, so the filler is never drawn",
    "suppression: bar_heights: 0 -> -1": "without a threshold no bar is hidden, so the filler is never drawn",
    "suppression: bar_heights: 0 -> 1": "without a threshold no bar is hidden, so the filler is never drawn",
    **{
        f"validation: _parse_number: {change}": "every whole-number column's range lies far inside 2**52"
        for change in ("2.0 -> 1.99", "2.0 -> 2.01", "53 -> 52", "53 -> 54", "pc.less_equal -> pc.less #2")
    },
    "validation: exclude: fresh.any() -> True": "excluding no row changes no row and no count",
    "validation: exclude_duplicate_courses: not repeat.any() -> False": "the early return only skips a search that finds nothing",
    "validation: exclude_orphans: not orphan.any() -> False": "the early return only skips a search that finds nothing",
    "labs: _broadcast: values is None -> False": "numpy reads None as NaN, the same filler",
    "labs: grade_rows: with_baseline and 'baseline' in labs -> 'baseline' in labs": "a baseline counts only with its limit, still dropped",
    "labs: grade_rows: with_baseline and 'baseline_upper' in labs -> 'baseline_upper' in labs": "a limit counts only with its baseline, still dropped",
    "labs: grade_rows: rows.size == 0 -> False": "grading no rows changes no grade",
    "labs: grade_rows: 0 -> -1": "grading no rows changes no grade",
    "validation: _exclude_blank_rows: table.blank.any() -> True": "with no blank row nothing is reported or excluded",
}

ROOT = Path(__file__).resolve().parent.parent
PRELOADED = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy.stats",
    "statsmodels.api",
    "statsmodels.stats.proportion",
    "lifelines",
    "lifelines.statistics",
    "plotly.graph_objects",
    "plotly.express",
    "hypothesis",
    "pytest",
)
SKIPPED_IN_COPY = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", "store", "out", "*.pyc"
)
COMPARE_SWAPS = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt, ast.GtE],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt, ast.LtE],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
}
# Comparisons written as names: numpy's functions, and a claim's direction as text.
NAMED_COMPARISONS = {"greater": "greater_equal", "greater_equal": "greater", "less": "less_equal", "less_equal": "less"}
DIRECTION_SWAPS = {">": ">=", ">=": ">", "<": "<=", "<=": "<"}
BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
}


@dataclass(frozen=True)
class Mutant:
    module: str
    function: str
    line: int
    start: tuple[int, int]  # (line, column) of the replaced source, 1-based line, 0-based byte column
    end: tuple[int, int]
    before: str
    after: str
    occurrence: int = 1  # the same change made again in the same function

    @property
    def key(self) -> str:
        """Stable name (no line number), so the equivalents table survives edits elsewhere in the file."""
        again = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.module}: {self.function}: {self.before} -> {self.after}{again}"


# ---------------------------------------------------------------------------------------------
# Generating mutants


def _replacements(node: ast.AST) -> list[ast.AST]:
    """The faulty versions of one node (expressions, or a return statement)."""
    if isinstance(node, ast.Compare):
        return [
            _with(node, ops=[*node.ops[:i], new(), *node.ops[i + 1 :]])
            for i, op in enumerate(node.ops)
            for new in COMPARE_SWAPS.get(type(op), [])
        ]
    if isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
        swapped = [_with(node, op=BINOP_SWAPS[type(node.op)]())]
        return swapped + ([node.left, node.right] if isinstance(node.op, (ast.BitAnd, ast.BitOr)) else [])
    if isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        dropped = [
            _with(node, values=node.values[:i] + node.values[i + 1 :]) if len(node.values) > 2 else node.values[1 - i]
            for i in range(len(node.values))
        ]
        return [_with(node, op=other), *dropped]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert, ast.USub)):
        return [node.operand]
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        step = 1 if isinstance(node.value, int) else 0.01
        return [ast.Constant(_tidy(node.value + step)), ast.Constant(_tidy(node.value - step))]
    if isinstance(node, ast.Attribute) and node.attr in NAMED_COMPARISONS:
        return [_with(node, attr=NAMED_COMPARISONS[node.attr])]
    if isinstance(node, ast.Constant) and node.value in DIRECTION_SWAPS and isinstance(node.value, str):
        return [ast.Constant(DIRECTION_SWAPS[node.value])]
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return [ast.Constant(not node.value)]
    if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
        return [ast.Return(ast.Constant(None))]
    return []


def _tidy(value):
    return round(value, 10) if isinstance(value, float) else value


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _with(node: ast.AST, **changes) -> ast.AST:
    fields = {name: getattr(node, name) for name in node._fields}
    return type(node)(**{**fields, **changes})


def _condition_drops(node: ast.AST) -> list[tuple[ast.AST, list[ast.AST]]]:
    """An if / while / conditional expression / comprehension condition made always true or always false."""
    tests = []
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        tests.append(node.test)
    if isinstance(node, ast.comprehension):
        tests.extend(node.ifs)
    return [(test, [ast.Constant(True), ast.Constant(False)]) for test in tests]


def _inside(node: ast.AST, parents: dict) -> tuple[str, bool]:
    """(enclosing function's name, whether the node is in a docstring, annotation or f-string)."""
    name, skip, child = "<module>", False, node
    while child in parents:
        parent = parents[child]
        if isinstance(parent, ast.JoinedStr):
            skip = True
        if isinstance(parent, (ast.arg, ast.AnnAssign)) and child is getattr(parent, "annotation", None):
            skip = True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and child is parent.returns:
            skip = True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and name == "<module>":
            name = parent.name
        child = parent
    return name, skip


def _top_function(node: ast.AST, parents: dict) -> str | None:
    """The outermost function holding the node (functions nested in it count as part of it)."""
    found, child = None, node
    while child in parents:
        child = parents[child]
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found = child.name
    return found


def mutants_of(module: str, source: str, functions: list[str] | None) -> list[Mutant]:
    """Every mutant of a module's source, limited to the named top-level functions when given."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    docstrings = {id(body[0].value) for body in _bodies(tree) if _is_docstring(body)}
    found = []
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        function, skip = _inside(node, parents)
        if skip or (functions is not None and _top_function(node, parents) not in functions):
            continue
        pairs = [(node, _replacements(node))] + _condition_drops(node)
        for original, faults in pairs:
            for fault in faults:
                found.append(_mutant(module, function, original, fault))
    return _numbered(sorted({m for m in found if m is not None}, key=lambda m: (m.start, m.after)))


def _numbered(mutants: list[Mutant]) -> list[Mutant]:
    seen = Counter()
    numbered = []
    for m in mutants:
        seen[(m.function, m.before, m.after)] += 1
        numbered.append(replace(m, occurrence=seen[(m.function, m.before, m.after)]))
    return numbered


def _bodies(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            yield node.body


def _is_docstring(body: list) -> bool:
    first = body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _mutant(module: str, function: str, original: ast.AST, fault: ast.AST) -> Mutant | None:
    if not hasattr(original, "end_lineno"):
        return None
    before, after = ast.unparse(original), ast.unparse(fault)
    if before == after:
        return None
    return Mutant(
        module,
        function,
        original.lineno,
        (original.lineno, original.col_offset),
        (original.end_lineno, original.end_col_offset),
        before,
        after,
    )


def apply(source: str, mutant: Mutant) -> str | None:
    """The source with the mutant's span replaced (parenthesised when an expression); None if it does not parse."""
    lines = [line.encode() for line in source.splitlines(keepends=True)]
    (first, start), (last, end) = mutant.start, mutant.end
    statement = mutant.before.startswith("return")
    text = mutant.after if statement else f"({mutant.after})"
    head, tail = lines[first - 1][:start], lines[last - 1][end:]
    mutated = b"".join(lines[: first - 1] + [head + text.encode() + tail] + lines[last:]).decode()
    try:
        ast.parse(mutated)
    except SyntaxError:
        return None
    return mutated


# ---------------------------------------------------------------------------------------------
# Running them


class Workspace:
    """One private copy of the project per worker; the target file is rewritten there, never in the tree."""

    def __init__(self, base: Path, index: int):
        self.root = base / f"worker{index}"
        shutil.copytree(ROOT, self.root, ignore=SKIPPED_IN_COPY)
        for folder in ("analysis", "tests"):
            compileall.compile_dir(self.root / folder, quiet=1)  # every unmutated module is read from its .pyc
        self.target: Path | None = None
        self.saved: tuple[str, os.stat_result, dict] = ("", os.stat(self.root), {})

    def mutate(self, relative: str, source: str) -> None:
        """Write the mutant; its module's .pyc files are set aside so that the mutant is compiled."""
        self.target = self.root / relative
        cached = {path: path.read_bytes() for path in self.target.parent.glob(f"__pycache__/{self.target.stem}.*.pyc")}
        self.saved = (self.target.read_text(), self.target.stat(), cached)
        for path in cached:
            path.unlink()
        self.target.write_text(source)

    def restore(self) -> None:
        """The original source with its original time stamp, so its .pyc is valid again."""
        if self.target is None:
            return
        text, stat, cached = self.saved
        self.target.write_text(text)
        os.utime(self.target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        for path, data in cached.items():
            path.write_bytes(data)
        self.target = None


def _preload() -> None:
    """Import the heavy libraries once, so that each forked test run only imports the project (about 5x faster)."""
    sys.dont_write_bytecode = True  # a mutant is never cached, so never read back by a later run
    for name in PRELOADED:
        try:
            __import__(name)
        except ImportError:
            pass


def _start_pytest(root: Path, tests: list[str]) -> int:
    """Fork a child that runs pytest on `tests` in the copy at `root`; its process id."""
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.chdir(root)
        import pytest

        code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-m", "not browser", *tests]))
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: the child is killed when the run is interrupted (it has its own process group)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def _stop(pid: int) -> None:
    """End a child that ran out of time, and whatever it started (its own process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def _run_all(
    relative: str, source: str, mutants: list[Mutant], tests: list[str], workspaces: list[Workspace], timeout: float
) -> list[str]:
    """'passed', 'failed', 'timeout' or 'invalid' per mutant, running one child per free workspace."""
    outcomes = ["invalid"] * len(mutants)
    waiting = list(range(len(mutants)))[::-1]
    running: dict[int, tuple[int, Workspace, float]] = {}
    free = list(workspaces)
    while waiting or running:
        while waiting and free:
            index = waiting.pop()
            mutated = apply(source, mutants[index])
            if mutated is None:
                continue
            workspace = free.pop()
            workspace.mutate(relative, mutated)
            running[_start_pytest(workspace.root, tests)] = (index, workspace, time.monotonic())
        for pid, (index, workspace, started) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and time.monotonic() - started < timeout:
                continue
            if not done:
                _stop(pid)
            passed = done and os.waitstatus_to_exitcode(status) == 0
            outcomes[index] = "timeout" if not done else "passed" if passed else "failed"
            workspace.restore()
            free.append(workspace)
            del running[pid]
        time.sleep(0.02)
    return outcomes


def _baseline(root: Path, tests: list[str]) -> float:
    """Seconds the unmutated tests take; stops the run if they fail."""
    started = time.monotonic()
    pid = _start_pytest(root, tests)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the tests fail without any mutant: {' '.join(tests)}")
    return time.monotonic() - started


def run_module(name: str, workspaces: list[Workspace], listed_only: bool, match: str | None) -> Counter:
    target = TARGETS[name]
    source = (ROOT / target["file"]).read_text()
    mutants = [m for m in mutants_of(name, source, target["functions"]) if not match or match in m.key]
    tests = [t for t in target["tests"] if (ROOT / t).exists()]
    if not tests:
        sys.exit(f"{name}: none of its test files exists ({', '.join(target['tests'])})")
    if listed_only:
        for m in mutants:
            print(f"{target['file']}:{m.line}  {m.key}")
        return Counter(mutants=len(mutants))
    started = time.monotonic()
    timeout = max(30.0, 5 * _baseline(workspaces[0].root, tests))
    outcomes = _run_all(target["file"], source, mutants, tests, workspaces, timeout)
    return _report(name, target["file"], mutants, outcomes, time.monotonic() - started)


def _report(name: str, file: str, mutants: list[Mutant], outcomes: list[str], seconds: float) -> Counter:
    counts = Counter(mutants=0)
    for mutant, outcome in zip(mutants, outcomes):
        if outcome == "invalid":
            continue
        counts["mutants"] += 1
        if outcome in ("failed", "timeout"):
            counts["killed"] += 1
        elif mutant.key in EQUIVALENT:
            counts["equivalent"] += 1
            print(f"  equivalent  {file}:{mutant.line}  {mutant.key}  ({EQUIVALENT[mutant.key]})")
        else:
            counts["survived"] += 1
            print(f"  SURVIVED    {file}:{mutant.line}  {mutant.key}")
    print(f"{name}: {_score_line(counts)}  [{seconds:.0f} s]", flush=True)
    return counts


def _score_line(counts: Counter) -> str:
    judged = counts["mutants"] - counts["equivalent"]
    score = 100 * counts["killed"] / judged if judged else 100.0
    return (
        f"{counts['mutants']} mutants, {counts['killed']} killed, {counts['equivalent']} equivalent, "
        f"{counts['survived']} survived: score {score:.1f}%"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(TARGETS), help="run only this target (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="parallel workers (each with its own copy)")
    parser.add_argument("--list", action="store_true", help="list the mutants without running them")
    parser.add_argument("--match", help="only mutants whose name contains this text")
    args = parser.parse_args(argv)
    names = args.module or list(TARGETS)
    started = time.monotonic()
    if not args.list:
        _preload()
    with tempfile.TemporaryDirectory(prefix="mutation-") as base:
        workspaces = [] if args.list else [Workspace(Path(base), i) for i in range(max(1, args.jobs))]
        results = {name: run_module(name, workspaces, args.list, args.match) for name in names}
    if not args.list:
        print("\nmodule        " + "mutants  killed  equivalent  survived  score")
        for name, counts in results.items():
            judged = counts["mutants"] - counts["equivalent"]
            score = f"{100 * counts['killed'] / judged:.1f}%" if judged else "-"
            print(
                f"{name:<13} {counts['mutants']:>8} {counts['killed']:>7} {counts['equivalent']:>11} "
                f"{counts['survived']:>9}  {score}"
            )
        print(f"total time {time.monotonic() - started:.0f} s")
    return 0 if args.list or not any(c["survived"] for c in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
