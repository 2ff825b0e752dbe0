"""The ``orchestra`` command: the composition root, the only core module that imports planners/tools/benchmarks."""
