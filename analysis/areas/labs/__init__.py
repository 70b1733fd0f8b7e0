"""The labs area."""
