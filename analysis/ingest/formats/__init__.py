"""Standard formats recognised without manual mapping: the canonical CSV files, CDISC ADaM and
SDTM, and REDCap exports. Each recogniser looks at the sheets of an upload and returns, for the
sheets it knows, the same `FileMapping`s a user would build by hand, so they are shown, saved
and applied like any other mapping.
"""

from __future__ import annotations

from analysis.ingest.formats import canonical, cdisc, redcap
from analysis.ingest.mapping import FileMapping
from analysis.ingest.readers import Sheet

RECOGNISERS = (canonical.recognise, cdisc.recognise, redcap.recognise)


def recognise(sheets: list[Sheet]) -> dict[int, list[FileMapping]]:
    """Sheet index -> mappings, for the sheets in a standard format (the first recogniser wins)."""
    found: dict[int, list[FileMapping]] = {}
    for recogniser in RECOGNISERS:
        for index, mappings in recogniser(sheets).items():
            found.setdefault(index, mappings)
    return found
