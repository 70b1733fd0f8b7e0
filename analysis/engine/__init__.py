"""Row-level work written once as ibis expressions and run by an engine: DuckDB in memory by default,
a Spark session with `--engine spark`. What comes back is per row or per course; the statistics
stay in Python."""
