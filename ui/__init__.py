"""Streamlit-side helpers shared by the pages: data source, filters, page furniture."""
