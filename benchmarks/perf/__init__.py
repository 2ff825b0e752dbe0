"""Performance benchmarks: scripts that print one JSON line."""
