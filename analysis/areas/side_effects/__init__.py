"""The side effects area."""
