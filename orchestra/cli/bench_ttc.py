"""``orchestra bench ttc``: compare test-time-compute policies on a sample bank, and build banks.

``orchestra bench ttc --bank FILE --methods sc,certaindex,adaptive,oracle --seeds 200`` replays
the bank offline and prints the samples saved at equal accuracy; ``orchestra bench ttc bank``
builds a bank with a real model (the embedded one by default). Thin: the work is in
:mod:`orchestra.benchmarks.ttc`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from orchestra.cli.observe import observed
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, ModelOpt, TraceOpt, VerboseOpt
from orchestra.errors import UsageError

__all__ = ["app"]

app = typer.Typer(
    help="Test-time compute: compare allocation policies on a replayed sample bank (offline), "
    "or build a bank.\n\nExample: orchestra bench ttc --methods sc,certaindex,adaptive,oracle --seeds 200",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _default_bank() -> Path:
    from orchestra.benchmarks import ttc as package

    return Path(package.__file__).with_name("data") / "chain-sum-smollm2.jsonl.gz"


@app.callback()
def compare_cmd(
    ctx: typer.Context,
    bank: Annotated[
        Path | None, typer.Option("--bank", "-b", help="A sample bank (.jsonl.gz); default: the one shipped.")
    ] = None,
    methods: Annotated[
        str,
        typer.Option("--methods", help="Comma-separated: sc, certaindex, posterior, adaptive, oracle."),
    ] = "sc,certaindex,adaptive,oracle",
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Draw orders to average over.")] = 200,
    k_max: Annotated[int, typer.Option("--k-max", min=1, help="Largest fixed k.")] = 32,
    min_samples: Annotated[
        int,
        typer.Option(
            "--min-samples",
            min=2,
            help="Samples Certaindex draws before it may stop (8: the best of 2, 3, 4, 6, 8 at the "
            "knee on the shipped bank's first 164 problems).",
        ),
    ] = 8,
    problems: Annotated[
        str | None,
        typer.Option(
            "--problems",
            metavar="START:STOP",
            help="Only the bank's problems START to STOP-1, in file order (e.g. 164: for a held-out part).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON results.")] = Path("ttc-comparison.json"),
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG plot (default: next to --out; needs matplotlib).")
    ] = None,
) -> None:
    """Compare fixed-k self-consistency, Certaindex, adaptive allocation and the oracle on a bank.

    Example: orchestra bench ttc --methods sc,certaindex,adaptive,oracle --seeds 200
    """
    if ctx.invoked_subcommand is not None:
        return
    from orchestra.benchmarks.ttc.compare import compare
    from orchestra.benchmarks.ttc.report import print_report, write_json, write_plot
    from orchestra.ttc import read_bank

    header, queries = read_bank(bank or _default_bank())
    if problems is not None:
        queries = queries[_slice(problems)]
    chosen = [m.strip() for m in methods.split(",") if m.strip() and m.strip() != "sc"]
    console = Console()
    with Progress(
        TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("replaying", total=None)
        comparison = compare(
            queries,
            methods=chosen,
            seeds=seeds,
            k_max=k_max,
            max_tokens=header.max_tokens,
            min_samples=min_samples,
            on_progress=lambda m: progress.update(task, description=f"replaying: {m}"),
        )
    print_report(comparison, console)
    console.print(f"results written to {write_json(comparison, out)}")
    try:
        console.print(f"plot written to {write_plot(comparison, plot or out.with_suffix('.png'))}")
    except UsageError as exc:
        if plot is not None:
            raise
        console.print(f"no plot: {exc}")


def _slice(text: str) -> slice:
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return slice(int(start) if start else None, int(stop) if stop else None)
    except ValueError:
        raise UsageError(f"--problems: expected START:STOP such as 164: or 0:100, got {text!r}") from None


@app.command("bank")
def bank_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The bank to build or resume (.jsonl.gz).")],
    samples: Annotated[int, typer.Option("--samples", "-k", min=1, help="Samples per problem.")] = 32,
    one_digit: Annotated[int, typer.Option("--one-digit", min=0, help="1-digit chain-sum problems.")] = 200,
    two_digit: Annotated[int, typer.Option("--two-digit", min=0, help="2-digit chain-sum problems.")] = 50,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 0.8,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 24,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the problem generators.")] = 7,
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints_file: EndpointsFileOpt = None,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Build a sample bank with a real model (the embedded one by default); resumes if killed.

    Example: orchestra bench ttc bank -o my-bank.jsonl.gz --one-digit 20 --two-digit 5 -k 32
    """
    with observed("bench ttc bank", trace_file=trace, verbose=verbose):
        _bank(
            out, samples, one_digit, two_digit, temperature, max_tokens, seed, endpoint, model, endpoints_file
        )


def _bank(
    out: Path,
    samples: int,
    one_digit: int,
    two_digit: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    endpoint: str | None,
    model: str | None,
    endpoints_file: Path | None,
) -> None:
    from orchestra.benchmarks.ttc.building import BankSpec, TaskSpec, build_bank
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect
    from orchestra.endpoints.traced import TracedEndpoint

    def chain_sum(count: int, digits: int) -> TaskSpec:
        config = {"min_terms": 2, "max_terms": 2, "min_digits": digits, "max_digits": digits}
        return TaskSpec("chain_sum", count, f"{digits}-digit", config)

    tasks = tuple(t for t in (chain_sum(one_digit, 1), chain_sum(two_digit, 2)) if t.count)
    if not tasks:
        raise UsageError("bank: no problems asked for (--one-digit and --two-digit are both 0)")
    specs = resolve_specs(endpoint, model, endpoints_file)
    spec = BankSpec(
        tasks=tasks,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        # One sample a request: servers report usage for the first of n choices only, and the
        # bank records each sample's own tokens.
        per_request=1,
        concurrency=8,
    )
    console = Console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )

    async def main() -> int:
        async with connect(specs, check_models=True) as conn:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(f"bank {out.name}", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                traced = TracedEndpoint(conn.default, model=conn.default_model)
                return await build_bank(out, traced, spec, model=conn.default_model, on_progress=advance)

    added = anyio.run(main)
    console.print(f"{added} problem(s) added to {out}")
