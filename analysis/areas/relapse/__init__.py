"""The relapse area."""
