"""Isotretinoin course outcomes: the core of the dashboard, free of Streamlit.

The pipeline, one package per stage: `ingest` (bytes to validated tables) -> `cohort` (one course
key, derived fields, filters) -> `areas` (one package per outcome area: its computation, figures,
report section and declaration) -> `outputs` (JSON summary, HTML report, images, table files, the
store); `stats` holds the shared statistics underneath. The same functions serve the dashboard,
the command line (`python -m analysis`) and notebooks.
"""

from pathlib import Path

__version__ = "0.1.0"
PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"  # the demo cohort and the reference files (claims, literature, side-effect terms)
