"""cleanrun."""
