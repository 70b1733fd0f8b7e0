"""The timeline area."""
