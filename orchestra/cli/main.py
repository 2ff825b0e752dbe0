"""The ``orchestra`` command. One module per command group; each calls the library.

User mistakes (bad flags, bad files, unreachable endpoints) end with a one-line message and the
same exit code in every command, never a traceback (:mod:`orchestra.cli.boundary`).

Start-up is kept short: ``orchestra --version`` answers before typer or the runtime is imported,
and every command module imports its heavy dependencies (the OpenAI SDK, the batch runner, the
simulator) inside the command, so a command pays only for what it uses
(``benchmarks/perf/cli_startup.py`` measures it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``orchestra`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):  # the fast path: nothing but the version string
        from orchestra import __version__

        sys.stdout.write(f"orchestra {__version__}\n")
        return
    from orchestra.cli.app import build
    from orchestra.cli.boundary import report

    try:
        build().main(args=args, prog_name="orchestra")
    except SystemExit:
        raise
    except BaseException as exc:
        sys.exit(report(exc))


if __name__ == "__main__":
    main()
