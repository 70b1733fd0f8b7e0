"""Outputs: the JSON summary, the HTML report, chart images, table files, and the store of saved datasets."""
