"""A loaded bundle kept as Parquet, so that opening the same files again skips reading and checking
every CSV cell (a million courses: minutes the first time, seconds after).

Only for bundles on disk opened by the command line or a notebook, and only where asked
(`load_bundle_cached(path, cache_dir)`): uploads to the app are never written to disk. The cache
entry's name is a SHA-256 of the input files' names and bytes and of the source of the modules
that build the cohort, so changed data or changed code never reuse a stale entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.cohort.loading import BundleError, LoadResult, load_bundle, read_bundle
from analysis.cohort.model import Cohort
from analysis.ingest.validation import ValidationReport
from analysis.schema import TABLES

log = logging.getLogger(__name__)
# Modules whose code decides what a loaded cohort holds: a change to any of them is a new cache key.
CORE = Path(__file__).resolve().parent.parent
BUILDING_CODE = ("ingest", "engine", "cohort/loading.py", "cohort/model.py", "cohort/derived.py", "schema.py")
REPORT_FIELDS = ("rows_read", "rows_kept", "excluded", "read_as")


def load_bundle_cached(
    path: str | Path, cache_dir: str | Path, source: str | None = None, synthetic: bool = False
) -> LoadResult:
    """`load_bundle(path)`, answered from `cache_dir` when these very files were loaded before."""
    path = Path(path)
    try:
        key = bundle_key(path)
    except BundleError:
        return load_bundle(path, source, synthetic)  # the loader reports why the bundle cannot be read
    entry = Path(cache_dir) / key
    if (entry / "meta.json").is_file():
        try:
            return read_entry(entry, source or path.name)
        except (OSError, ValueError, KeyError, pa.ArrowException) as error:
            log.warning("cached copy %s unreadable (%s); loading %s again", entry, error, path)
    result = load_bundle(path, source, synthetic)
    if result.cohort is not None:
        write_entry(entry, result)
    return result


def bundle_key(path: Path) -> str:
    digest = hashlib.sha256()
    files, skipped = read_bundle(path)
    for name in sorted(files):
        digest.update(f"{name}\n{len(files[name])}\n".encode())
        digest.update(files[name])
    digest.update("\n".join(sorted(skipped)).encode())
    for source in building_sources():
        digest.update(source.relative_to(CORE).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def building_sources() -> list[Path]:
    """The source files whose code decides what a loaded cohort holds, in a stable order."""
    sources = []
    for name in BUILDING_CODE:
        path = CORE / name
        sources += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return sources


def write_entry(entry: Path, result: LoadResult) -> None:
    """Writes the cohort's tables and the report; a partial entry is never left behind."""
    partial = entry.with_name(entry.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cohort = result.cohort
    for name in TABLES:
        pq.write_table(pa.Table.from_pandas(cohort.table(name), preserve_index=True), partial / f"{name}.parquet")
    pq.write_table(pa.Table.from_pandas(result.report.issues, preserve_index=False), partial / "issues.parquet")
    meta = {
        "synthetic": cohort.synthetic,
        "fingerprint": cohort.fingerprint,
        "custom_columns": list(cohort.custom_columns),
        "time_origin": cohort.time_origin,
        "report": {name: getattr(result.report, name) for name in REPORT_FIELDS},
    }
    (partial / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(entry, ignore_errors=True)
    partial.rename(entry)


def read_entry(entry: Path, source: str) -> LoadResult:
    meta = json.loads((entry / "meta.json").read_text())
    tables = {name: _read_frame(entry / f"{name}.parquet") for name in TABLES}
    cohort = Cohort(
        **tables,
        source=source,
        synthetic=meta["synthetic"],
        fingerprint=meta["fingerprint"],
        custom_columns=tuple(meta["custom_columns"]),
        time_origin=meta.get("time_origin", ""),
    )
    issues = _read_frame(entry / "issues.parquet")
    known = {f.name for f in fields(ValidationReport)}
    report = ValidationReport(issues=issues, **{name: value for name, value in meta["report"].items() if name in known})
    return LoadResult(cohort, report)


def _read_frame(file: Path) -> pd.DataFrame:
    """The frame as written; a categorical column without any value (stored as nulls) stays categorical.

    Read a column at a time, so that besides the frame only one column is ever held twice (as
    read and as converted): a million courses' lab table would otherwise need its size again.
    """
    parquet = pq.ParquetFile(file)
    metadata = parquet.schema_arrow.pandas_metadata or {}
    columns = metadata.get("columns", [])
    index_fields = [name for name in metadata.get("index_columns", []) if isinstance(name, str)]
    frame = pd.DataFrame(
        {name: _read_column(parquet, name) for name in parquet.schema_arrow.names if name not in index_fields},
        copy=False,
    )
    if index_fields:
        names = {column.get("field_name"): column.get("name") for column in columns}
        frame.index = pd.Index(
            parquet.read(columns=index_fields[:1]).column(0).to_numpy(), name=names.get(index_fields[0])
        )
    for column in columns:
        name = column.get("name")
        if name not in frame or column.get("field_name") in index_fields:
            continue
        if column.get("pandas_type") == "categorical" and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            empty = frame[name].isna().all()  # Parquet keeps a categorical without values as nulls
            frame[name] = (
                pd.Categorical.from_codes(np.full(len(frame), -1, dtype=np.int8), pd.Index([], dtype=object))
                if empty
                else frame[name].astype("category")
            )
        elif column.get("numpy_type") == "string" and isinstance(frame[name].dtype, pd.StringDtype):
            frame[name] = frame[name].astype(pd.StringDtype("pyarrow"))  # the report's text columns, as built
    return frame


def _read_column(parquet: pq.ParquetFile, name: str) -> pd.Series:
    return parquet.read(columns=[name]).to_pandas(self_destruct=True)[name]
