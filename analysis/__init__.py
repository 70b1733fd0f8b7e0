"""Isotretinoin course outcomes: loading, validation, statistics, claims and figures.

The same functions serve the dashboard, the command line (`python -m analysis`) and notebooks.
"""

__version__ = "0.1.0"
