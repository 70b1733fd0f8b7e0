"""The engine that runs row-level work: an ibis backend, DuckDB in memory by default, Spark on request.

ibis compiles one expression for either engine, so each derivation is written once
(`analysis.engine.derivations`) and the statistics stay in Python on what comes back.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

SPARK_MASTER_VARIABLE = "ISOTRET_SPARK_MASTER"
SPARK_MEMORY_VARIABLE = "ISOTRET_SPARK_DRIVER_MEMORY"  # e.g. 8g, for a local master
ENGINES = ("duckdb", "spark")


class EngineUnavailable(Exception):
    """The engine asked for cannot start here; the message says what is missing."""


@dataclass(frozen=True)
class Engine:
    """An ibis backend and the name it is known by ("duckdb" or "spark")."""

    name: str
    backend: Any

    def table(self, data: pa.Table):
        """Arrow data as a table this engine reads (an ibis memtable: registered on first use)."""
        import ibis

        return ibis.memtable(data)

    def arrow(self, expression) -> pa.Table:
        return self.backend.to_pyarrow(expression)

    def close(self) -> None:
        self.backend.disconnect()


def duckdb_engine() -> Engine:
    """A DuckDB database of its own, in memory: nothing reaches the disk, and no other cohort (no
    other browser session) shares it."""
    import ibis

    # No temp directory: DuckDB would otherwise spill to `.tmp` in the working folder, and uploads stay in
    # memory. Every result is ordered or placed by its row number, so rows need not keep their order.
    return Engine("duckdb", ibis.duckdb.connect(temp_directory="", preserve_insertion_order=False))


_SPARK: dict[str, Engine] = {}


def spark_engine(master: str | None = None) -> Engine:
    """An engine on a Spark session (one per master URL and process: Spark starts in seconds, not
    milliseconds). A local master opens no web UI and listens on the loopback address only."""
    master = master or os.environ.get(SPARK_MASTER_VARIABLE) or "local[2]"
    if master not in _SPARK:
        import ibis

        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise EngineUnavailable("Spark needs Java: install a Java runtime 17 or 21 (e.g. openjdk-17-jre-headless)")
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineUnavailable("Spark needs the pyspark package: pip install -r requirements.txt") from None

        _SPARK[master] = Engine("spark", ibis.pyspark.connect(_spark_session(SparkSession, master)))
    return _SPARK[master]


def _spark_session(session_class, master: str):
    """Python workers run this interpreter (it has the project's packages); tables move as Arrow."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = session_class.builder.master(master).appName("isotretinoin-outcomes")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # One machine: a few shuffle partitions, not the 200 meant for a cluster's data.
        settings |= {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.shuffle.partitions": "4",
            # The driver is the executor too, and the cohort's rows come back to it: Spark's 1 GB default
            # runs out of heap at 100,000 courses. A quarter of the machine, as a JVM heap.
            "spark.driver.memory": os.environ.get(SPARK_MEMORY_VARIABLE) or _quarter_of_memory(),
            "spark.driver.maxResultSize": "0",
            # Tables a local session saves stay out of the working folder and go with the machine's temp files.
            "spark.sql.warehouse.dir": tempfile.mkdtemp(prefix="spark-warehouse-"),
        }
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _quarter_of_memory() -> str:
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return f"{max(1024, pages * page_size // 4 // 2**20)}m"


def engine_named(name: str, master: str | None = None) -> Engine:
    if name == "duckdb":
        return duckdb_engine()
    if name == "spark":
        return spark_engine(master)
    raise EngineUnavailable(f"unknown engine {name!r}: use {' or '.join(ENGINES)}")
