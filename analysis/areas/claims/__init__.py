"""The claims area."""
