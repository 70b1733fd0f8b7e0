"""Loading a dataset (a folder, a .zip, or uploaded bytes) into a validated cohort.

The app's upload, the command line and notebooks share `load_tables`. The files may be the
canonical CSV files, standard exports (CDISC ADaM/SDTM, REDCap), or any CSV/TSV/Excel/Parquet
export with a column mapping (`analysis.ingest.mapping`), proposed automatically or saved by the user.
Loading never raises for bad input: what is wrong with a file becomes a finding in the report,
and only valid rows reach the cohort (the policy is in `analysis.ingest.validation`). Canonical files
are read with the schema's types (text dictionary-encoded), other files as text that is mapped
and then typed; every column is checked whole, so a million rows cost no Python loop, and each
table's cells are freed once checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from analysis import DATA_DIR
from analysis.cohort.model import Cohort, build_cohort
from analysis.engine.connection import Engine
from analysis.engine.sources import read_sources, sources_label
from analysis.ingest.lab_harmonisation import harmonise_labs
from analysis.ingest.mapping import Mapping
from analysis.ingest.progress import release_memory, report_stage
from analysis.ingest.readers import is_hidden, may_hold_data
from analysis.ingest.upload import UploadPlan, plan_upload, raw_tables
from analysis.ingest.validation import (
    ERROR,
    FILE_IGNORED,
    NOT_LOADED,
    NOTE,
    ReportBuilder,
    ValidationReport,
    file_problem,
    validate_tables,
)
from analysis.schema import TABLES

DEMO_DIR = DATA_DIR / "demo"
DEMO_SOURCE = "Synthetic demo cohort"
TABLE_FILES = {f"{name}.csv": name for name in TABLES}
NOT_DATA = "not a data file (CSV, TSV, Excel, Parquet or zip); ignored"

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """The cohort (None when the data cannot be loaded) and the report on the input."""

    cohort: Cohort | None
    report: ValidationReport

    @property
    def ok(self) -> bool:
        return self.cohort is not None


class BundleError(Exception):
    """A bundle that cannot be opened at all; the message is meant for the user."""


def load_demo(engine: Engine | None = None, build: bool = True) -> LoadResult:
    """The bundled synthetic cohort the app opens on (its folder's README is not data)."""
    files = {name: (DEMO_DIR / name).read_bytes() for name in TABLE_FILES if (DEMO_DIR / name).is_file()}
    return load_tables(files, DEMO_SOURCE, synthetic=True, engine=engine, build=build)


def load_bundle(
    path: str | Path,
    source: str | None = None,
    synthetic: bool = False,
    mapping: Mapping | None = None,
    engine: Engine | None = None,
    build: bool = True,
) -> LoadResult:
    """Loads a folder, a .zip or a single file (CSV, TSV, Excel, Parquet) holding the tables; without
    `build`, only checks them (the report, no cohort: what `validate` needs, without the engine)."""
    path = Path(path)
    try:
        files, skipped = read_bundle(path)
    except BundleError as error:
        builder = ReportBuilder()
        builder.add(ERROR, path.name or str(path), str(error), action=NOT_LOADED)
        return LoadResult(None, builder.build())
    return _load_files(files, source or path.name, synthetic, mapping, skipped, engine, build, owns_files=True)


def load_sources(
    engine: Engine,
    sources: dict[str, str],
    label: str | None = None,
    mapping: Mapping | None = None,
    build: bool = True,
) -> LoadResult:
    """The tables read by the engine from where they live (`analysis.engine.sources`), then checked as
    an upload is; a source that cannot be read raises SourceError, for the caller to say."""
    files = read_sources(engine, sources)
    where = sources_label(engine, sources)
    return load_tables(
        files, where if label is None else f"{label} ({where})", mapping=mapping, engine=engine, build=build
    )


def read_bundle(path: Path) -> tuple[dict[str, bytes], list[str]]:
    """File name -> bytes of the data files in a folder (not its subfolders), or of one file;
    and the names of the folder's other files, to be reported but not read."""
    try:
        if path.is_dir():
            entries = [e for e in sorted(path.iterdir()) if e.is_file() and not is_hidden(e.name)]
            files = {e.name: e.read_bytes() for e in entries if may_hold_data(e.name)}
            return files, [e.name for e in entries if not may_hold_data(e.name)]
        if not path.exists():
            raise BundleError(f"there is no file or folder {path}")
        return {path.name: path.read_bytes()}, []
    except OSError as error:
        raise BundleError(f"the file or folder could not be read ({error.strerror or error})") from error


def load_tables(
    files: dict[str, bytes],
    source: str,
    synthetic: bool = False,
    mapping: Mapping | None = None,
    skipped: list[str] | None = None,
    engine: Engine | None = None,
    build: bool = True,
) -> LoadResult:
    """Loads file name -> bytes (any supported format, zips expanded): the shared path of every loader.

    Without a mapping, standard formats are recognised and other files mapped as proposed; with
    one, the files it names are mapped as it says.
    """
    return _load_files(files, source, synthetic, mapping, skipped, engine, build, owns_files=False)


def _load_files(
    files: dict[str, bytes],
    source: str,
    synthetic: bool,
    mapping: Mapping | None,
    skipped: list[str] | None,
    engine: Engine | None,
    build: bool,
    owns_files: bool,
) -> LoadResult:
    """`load_tables`; with `owns_files`, the dict is emptied once read, so that the bytes go with
    the sheets read from them as soon as the cells are checked (a million courses need the room)."""
    builder = ReportBuilder()
    try:
        for name in skipped or ():  # documentation beside the data is expected, not a problem
            builder.add(NOTE, name, NOT_DATA, action=FILE_IGNORED)
        plan = plan_upload(files, mapping)
        if owns_files:
            files.clear()
        return load_plan(plan, source, synthetic, builder, engine, build, _owns_plan=True)
    except Exception as error:  # a defect, not bad input: report it rather than crash the page
        return _internal_error(builder, source, error)


def load_plan(
    plan: UploadPlan,
    source: str,
    synthetic: bool = False,
    builder: ReportBuilder | None = None,
    engine: Engine | None = None,
    build: bool = True,
    _owns_plan: bool = False,
) -> LoadResult:
    """Loads an upload whose mapping the user has seen (and perhaps changed) on the Data page.

    A plan the loader made itself (`_owns_plan`) gives up its sheets' cells and bytes once they
    are mapped; a plan from the Data page is left whole, to be loaded again with another mapping.
    """
    builder = builder or ReportBuilder()
    try:
        return _load(plan, source, synthetic, builder, engine, build, _owns_plan)
    except Exception as error:  # a defect, not bad input: report it rather than crash the page
        return _internal_error(builder, source, error)


def _internal_error(builder: ReportBuilder, source: str, error: Exception) -> LoadResult:
    """No cohort, and one line in the load's report saying a defect (not the data) stopped it."""
    log.exception("loading %s failed", source)
    builder.add(
        ERROR,
        source,
        f"internal error while loading ({type(error).__name__}: {error}); please report it",
        action=NOT_LOADED,
    )
    return LoadResult(None, builder.build())


def _load(
    plan: UploadPlan,
    source: str,
    synthetic: bool,
    builder: ReportBuilder,
    engine: Engine | None,
    build: bool,
    owns_plan: bool,
) -> LoadResult:
    report_stage("Reading the files")
    data_fingerprint = fingerprint(plan)
    tables = raw_tables(plan, builder)
    if owns_plan:
        _release_sheets(plan)
    for sheet_plan in plan.sheets:
        used = [m for m in sheet_plan.mappings if m.table]
        if used and not sheet_plan.refused:
            formats = {m.format for m in used if m.format and m.format != "canonical"}
            builder.read_as[sheet_plan.label] = sheet_plan.sheet.detected() + "".join(f"; {f}" for f in sorted(formats))
    if "courses" not in tables and not _courses_reported(builder):
        file_problem(
            builder, "courses", "courses.csv", "the file is missing; every dataset needs it" + _recognised(plan)
        )
    _list_files_in_table_order(plan, tables, builder)
    report_stage("Checking every value")
    checked = validate_tables(tables, builder)
    lab_files = [raw.file for raw in tables.get("labs", [])]
    del tables  # the cells as read: free them before the cohort is built (a million courses need the room)
    release_memory()
    if checked is not None and "labs" in checked:  # once here, not on every page (analysis.ingest.lab_harmonisation)
        checked["labs"] = harmonise_labs(checked["labs"], lab_files, builder)
    origin = declared_time_origin(plan)
    if checked is None or not build:
        return LoadResult(None, builder.build())
    cohort = build_cohort(checked, source, synthetic, data_fingerprint, origin, engine)
    release_memory()
    return LoadResult(cohort, builder.build())


def _rules_used(mapping) -> dict:
    """A mapping as it bears on the data: without its file's name, and without a list of columns left
    out that leaves nothing out (other columns are not kept) or that differs only in its order."""
    rules = mapping.to_dict() | {"file": "", "sheet": None}
    if not mapping.keep_other_columns:
        rules.pop("ignore", None)
    elif "ignore" in rules:
        rules["ignore"] = sorted(set(rules["ignore"]))
    return rules


def declared_time_origin(plan: UploadPlan) -> str:
    """Where the data's event times count from, when the files used say so and agree ("" otherwise)."""
    declared = {
        m.time_origin
        for sheet_plan in plan.sheets
        if not sheet_plan.refused
        for m in sheet_plan.mappings
        if m.table and m.time_origin
    }
    return declared.pop() if len(declared) == 1 else ""


def _release_sheets(plan: UploadPlan) -> None:
    """The sheets' cells and bytes dropped: the raw tables hold the cells they need, and the
    validator frees those a table at a time."""
    for sheet_plan in plan.sheets:
        sheet_plan.sheet.columns = []
        sheet_plan.sheet.data = b""


def _list_files_in_table_order(plan: UploadPlan, tables: dict, builder: ReportBuilder) -> None:
    """Files are listed by table (courses first), even those that could not be read."""
    unreadable = {TABLE_FILES[name.lower()]: name for name, _ in plan.problems if name.lower() in TABLE_FILES}
    ordered = {}
    for table in TABLES:
        for raw in tables.get(table, []):
            ordered[raw.file] = builder.rows_read.get(raw.file, 0)
        if table in unreadable and table not in tables:
            ordered[unreadable[table]] = 0
    builder.rows_read = ordered | builder.rows_read


def _courses_reported(builder: ReportBuilder) -> bool:
    report = builder.build()
    return bool((report.issues["action"] == NOT_LOADED).any())


def _recognised(plan: UploadPlan) -> str:
    """'; the files were recognised as: a.csv: visits, b.csv: not recognised' (non-canonical uploads)."""
    seen = [(p.label, ", ".join(m.table for m in p.mappings if m.table) or "not used") for p in plan.sheets]
    if not seen or all(label.lower() in TABLE_FILES for label, _ in seen):
        return ""
    return (
        "; a courses table holds one row per course with patient_id, sex and age (or age_band). The files were "
        "recognised as: " + ", ".join(f"{label}: {tables}" for label, tables in seen)
    )


def fingerprint(plan: UploadPlan) -> str:
    """SHA-256 of the data used: each sheet's bytes under its tables, in a fixed order, and every
    mapping that is not the canonical one (file names left out, so a renamed export matches).

    One definition for the app, its report and the command line: the Data page's confirmed mapping
    lists the columns left out ("ignore"), a proposal made without the page does not, so a list that
    changes nothing (other columns are not kept anyway) is left out of the fingerprint."""
    digest = hashlib.sha256()
    used = []
    for sheet_plan in plan.sheets:
        mappings = [m for m in sheet_plan.mappings if m.table]
        if not mappings or sheet_plan.refused:
            continue
        tables = "+".join(sorted(m.table for m in mappings))
        rules = [_rules_used(m) for m in mappings if m.format != "canonical"]
        used.append((tables, sheet_plan.sheet.sheet or "", sheet_plan.sheet.data, json.dumps(rules, sort_keys=True)))
    repeated = Counter(tables for tables, *_ in used)
    # Sheets feeding the same tables are ordered by their content's hash (then sheet name), so
    # the order of the files does not matter; that hash is needed only for them.
    order = {
        id(item): (item[0], hashlib.sha256(item[2]).hexdigest() if repeated[item[0]] > 1 else "", item[1])
        for item in used
    }
    for tables, sheet, data, rules in sorted(used, key=lambda item: order[id(item)]):
        digest.update(f"{tables}.csv\n{sheet}\n{len(data)}\n".encode())
        digest.update(data)
        if rules != "[]":
            digest.update(rules.encode())
    return digest.hexdigest()
