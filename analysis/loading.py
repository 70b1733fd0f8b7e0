"""Loading a dataset (a folder, a .zip, or uploaded bytes) into a validated cohort.

The app's upload, the command line and notebooks share `load_tables`. The files may be the
canonical CSV files, standard exports (CDISC ADaM/SDTM, REDCap), or any CSV/TSV/Excel/Parquet
export with a column mapping (`analysis.mapping`), proposed automatically or saved by the user.
Loading never raises for bad input: what is wrong with a file becomes a finding in the report,
and only valid rows reach the cohort (the policy is in `analysis.validation`). Files are read
as text, mapped, then typed and checked column by column, so a million rows cost no Python loop.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .cohort import Cohort, build_cohort
from .mapping import Mapping
from .prepare import harmonise_labs, release_memory, report_stage
from .readers import is_hidden, may_hold_data
from .schema import TABLES
from .upload import UploadPlan, plan_upload, raw_tables
from .validation import ERROR, FILE_IGNORED, NOT_LOADED, NOTE, ReportBuilder, ValidationReport, file_problem, validate_tables

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
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


def load_demo() -> LoadResult:
    """The bundled synthetic cohort the app opens on (its folder's README is not data)."""
    files = {name: (DEMO_DIR / name).read_bytes() for name in TABLE_FILES if (DEMO_DIR / name).is_file()}
    return load_tables(files, DEMO_SOURCE, synthetic=True)


def load_bundle(path: str | Path, source: str | None = None, synthetic: bool = False,
                mapping: Mapping | None = None) -> LoadResult:
    """Loads a folder, a .zip or a single file (CSV, TSV, Excel, Parquet) holding the tables."""
    path = Path(path)
    try:
        files, skipped = read_bundle(path)
    except BundleError as error:
        builder = ReportBuilder()
        builder.add(ERROR, path.name or str(path), str(error), action=NOT_LOADED)
        return LoadResult(None, builder.build())
    return load_tables(files, source or path.name, synthetic, mapping=mapping, skipped=skipped)


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


def load_tables(files: dict[str, bytes], source: str, synthetic: bool = False, mapping: Mapping | None = None,
                skipped: list[str] | None = None) -> LoadResult:
    """Loads file name -> bytes (any supported format, zips expanded): the shared path of every loader.

    Without a mapping, standard formats are recognised and other files mapped as proposed; with
    one, the files it names are mapped as it says.
    """
    builder = ReportBuilder()
    try:
        for name in skipped or ():  # documentation beside the data is expected, not a problem
            builder.add(NOTE, name, NOT_DATA, action=FILE_IGNORED)
        return load_plan(plan_upload(files, mapping), source, synthetic, builder)
    except Exception as error:  # a defect, not bad input: report it rather than crash the page
        log.exception("loading %s failed", source)
        builder.add(ERROR, source, f"internal error while loading ({type(error).__name__}: {error}); please report it",
                    action=NOT_LOADED)
        return LoadResult(None, builder.build())


def load_plan(plan: UploadPlan, source: str, synthetic: bool = False, builder: ReportBuilder | None = None) -> LoadResult:
    """Loads an upload whose mapping the user has seen (and perhaps changed) on the Data page."""
    builder = builder or ReportBuilder()
    try:
        return _load(plan, source, synthetic, builder)
    except Exception as error:  # a defect, not bad input: report it rather than crash the page
        log.exception("loading %s failed", source)
        builder.add(ERROR, source, f"internal error while loading ({type(error).__name__}: {error}); please report it",
                    action=NOT_LOADED)
        return LoadResult(None, builder.build())


def _load(plan: UploadPlan, source: str, synthetic: bool, builder: ReportBuilder) -> LoadResult:
    report_stage("Reading the files")
    tables = raw_tables(plan, builder)
    for sheet_plan in plan.sheets:
        used = [m for m in sheet_plan.mappings if m.table]
        if used and not sheet_plan.refused:
            formats = {m.format for m in used if m.format and m.format != "canonical"}
            builder.read_as[sheet_plan.label] = sheet_plan.sheet.detected() + "".join(f"; {f}" for f in sorted(formats))
    if "courses" not in tables and not _courses_reported(builder):
        file_problem(builder, "courses", "courses.csv", "the file is missing; every dataset needs it" + _recognised(plan))
    _list_files_in_table_order(plan, tables, builder)
    report_stage("Checking every value")
    checked = validate_tables(tables, builder)
    lab_files = [raw.file for raw in tables.get("labs", [])]
    del tables  # the cells as text: free them before the cohort is built (a million courses need the room)
    release_memory()
    if checked is not None and "labs" in checked:  # once here, not on every page (analysis.prepare)
        checked["labs"] = harmonise_labs(checked["labs"], lab_files, builder)
    cohort = None if checked is None else build_cohort(checked, source, synthetic, fingerprint(plan))
    release_memory()
    return LoadResult(cohort, builder.build())


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
    return ("; a courses table holds one row per course with patient_id, sex and age (or age_band). The files were "
            "recognised as: " + ", ".join(f"{label}: {tables}" for label, tables in seen))


def fingerprint(plan: UploadPlan) -> str:
    """SHA-256 of the data used: each sheet's bytes under its tables, in a fixed order, and every
    mapping that is not the canonical one (file names left out, so a renamed export matches)."""
    digest = hashlib.sha256()
    used = []
    for sheet_plan in plan.sheets:
        mappings = [m for m in sheet_plan.mappings if m.table]
        if not mappings or sheet_plan.refused:
            continue
        tables = "+".join(sorted(m.table for m in mappings))
        rules = [m.to_dict() | {"file": "", "sheet": None} for m in mappings if m.format != "canonical"]
        data = sheet_plan.sheet.data
        used.append((tables, hashlib.sha256(data).hexdigest(), sheet_plan.sheet.sheet or "", data,
                     json.dumps(rules, sort_keys=True)))
    for tables, _, sheet, data, rules in sorted(used, key=lambda item: item[:3]):
        digest.update(f"{tables}.csv\n{sheet}\n{len(data)}\n".encode())
        digest.update(data)
        if rules != "[]":
            digest.update(rules.encode())
    return digest.hexdigest()
