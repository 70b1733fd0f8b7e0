"""Shared statistics, at the bottom of the core: intervals, survival, and the small-count rule."""
