"""The overview area."""
