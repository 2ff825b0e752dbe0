"""benchmarks package of orchestra."""
