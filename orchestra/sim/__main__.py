"""``python -m orchestra.sim [flags]``: the simulator server (same flags as ``orchestra sim serve``)."""

from __future__ import annotations

from orchestra.cli.sim import main

if __name__ == "__main__":
    main()
