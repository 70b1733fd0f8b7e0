"""Runs one of the engine's column expressions on a few values, on DuckDB, for unit tests."""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa

from analysis.engine.connection import duckdb_engine

ENGINE = duckdb_engine()


def values_of(expression, values, dtype: str = "float64") -> list:
    """expression(column) on `values` (None: missing), in order; missing results as None."""
    table = ibis.memtable(
        pa.Table.from_pandas(pd.DataFrame({"x": pd.Series(values, dtype=dtype), "at": range(len(values))}))
    )
    result = ENGINE.arrow(table.select("at", y=expression(table.x)).order_by("at"))
    return result.column("y").to_pylist()
