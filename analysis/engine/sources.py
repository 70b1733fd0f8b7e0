"""Tables read where they live: a table of the engine's catalog (`registry.courses`) or a path the
engine can reach (Parquet files or folders, CSV; on Spark also hdfs://, s3a://, abfss:// ...).

Each table comes back as Parquet bytes named after its table (`courses.parquet`, ...), for the
loader to check as it checks an upload: the same findings, naming table, row and column. CSV is read
as text, so its values are checked as written, not as the engine would guess their types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.engine.connection import ENGINES, Engine
from analysis.schema import TABLES

CSV_ENDINGS = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_ENDINGS = (".parquet", ".pq")


class SourceError(Exception):
    """A table that could not be read from where it was said to be; the message is for the user."""


def parse_source(text: str) -> tuple[str, str]:
    """'courses=registry.courses' -> ('courses', 'registry.courses'), refusing unknown tables."""
    table, separator, source = text.partition("=")
    table, source = table.strip(), source.strip()
    if not separator or not source:
        raise SourceError(f"{text!r}: write TABLE=SOURCE, e.g. courses=registry.courses or visits=/data/visits.parquet")
    if table not in TABLES:
        raise SourceError(f"{text!r}: the table must be one of {', '.join(TABLES)}")
    return table, source


def is_path(source: str) -> bool:
    return "/" in source or "\\" in source or source.lower().endswith(CSV_ENDINGS + PARQUET_ENDINGS)


def table_expression(engine: Engine, source: str):
    """The source as an ibis table on the engine: a catalog table, or files read from a path."""
    backend = engine.backend
    if not is_path(source):
        database, _, name = source.rpartition(".")
        return backend.table(name, database=database or None)
    if source.lower().endswith(CSV_ENDINGS):
        if engine.name == "spark":
            return backend.read_csv(source, inferSchema=False)
        return backend.read_csv(source, all_varchar=True)
    return backend.read_parquet(source)


def read_sources(engine: Engine, sources: dict[str, str]) -> dict[str, bytes]:
    """Table name -> the table as Parquet bytes (`courses.parquet`, ...)."""
    files = {}
    for table, source in sources.items():
        try:
            arrow = engine.arrow(table_expression(engine, source))
        except Exception as error:  # each engine raises its own kinds: say which table and why, in one line
            said = str(error).strip().splitlines()[:1]  # some engines say only the name they did not find
            reason = f"{type(error).__name__}: {said[0]}" if said else type(error).__name__
            raise SourceError(f"{table}: {source} could not be read on {engine.name} ({reason})") from error
        sink = pa.BufferOutputStream()
        pq.write_table(arrow, sink)
        files[f"{table}.parquet"] = sink.getvalue().to_pybytes()
    return files


def sources_label(engine: Engine, sources: dict[str, str]) -> str:
    return f"{engine.name}: " + ", ".join(f"{table}={source}" for table, source in sources.items())


@dataclass(frozen=True)
class ConfiguredSource:
    """A dataset the server's administrator names in `.streamlit/secrets.toml` (`[data_source]`):
    its label, the engine that reads it, and where each table lives. Never typed into a page."""

    label: str
    engine: str
    master: str | None
    tables: dict[str, str]
    problem: str = ""  # what is wrong with the section, said when the source is opened

    @classmethod
    def from_settings(cls, settings: Mapping) -> ConfiguredSource:
        """From the section's keys; a mistake is a SourceError naming the key."""
        settings = dict(settings)
        unknown = sorted(set(settings) - {"label", "engine", "master", *TABLES})
        if unknown:
            raise SourceError(f"[data_source] has keys it does not use: {', '.join(unknown)}")
        tables = {name: str(settings[name]) for name in TABLES if settings.get(name)}
        if "courses" not in tables:
            raise SourceError("[data_source] needs at least courses = TABLE OR PATH")
        engine = str(settings.get("engine", "duckdb"))
        if engine not in ENGINES:
            raise SourceError(f"[data_source] engine = {engine!r}: use {' or '.join(ENGINES)}")
        master = settings.get("master")
        return cls(str(settings.get("label") or "Configured data source"), engine, master and str(master), tables)
