"""Ingest: bytes in, a validated table per data file out (readers, formats, column mapping, identifier
detection, value checks, lab units), with a report naming file, row and column for every problem."""
