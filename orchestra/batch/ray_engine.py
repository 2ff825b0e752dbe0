"""Batch over more than one machine: shards on Ray workers, one shared limiter per endpoint, a merge.

``orchestra batch run IN.jsonl -o OUT.jsonl --engine ray [--address ...] [--shards N]``:

- **Sharding.** Row ``custom_id`` goes to shard ``crc32(custom_id) % N``, so a duplicate id lands in
  the shard that saw the first one and a resumed run with the same N finds each row where it left
  it. Every shard task streams the input file and keeps its own rows. The input path must
  therefore be readable by every worker: the same machine, or a shared filesystem.
- **One limiter per endpoint, shared.** Each endpoint's :class:`~orchestra.endpoints.limits.RateLimiter`
  lives in one Ray actor (:class:`LimiterActor`). Every worker's requests to that endpoint acquire
  and release permits through it (:class:`SharedLimitedEndpoint`), so the cluster as a whole
  respects the endpoint's RPM, TPM and concurrency, and a 429 pauses every worker. A limiter per
  worker would instead multiply the limit by the number of workers.
- **An unusable endpoint stops every shard.** When one shard finds an endpoint unusable (an
  exhausted quota, a refused key, an unknown model, an address never reached:
  :attr:`orchestra.faults.Fault.endpoint_final`), its pool disables it as a local run's does, and
  the disabling goes to the endpoint's actor (:class:`SharedRoutingPolicy`); every other shard's
  next request to it fails at once with that reason, without a request. So each lane stops early
  with one reason and leaves its rows for a resume, as in a local run, instead of every shard
  paying the error again.
- **Models checked first.** As in a local run, each endpoint is asked which models it serves
  (``GET /models``, :func:`~orchestra.endpoints.served.check_models`) before Ray is started: a
  model it does not serve is a usage error, and an endpoint file entry with no model gets the
  server's only one.
- **Journals and merge.** Each shard writes its own journal (``OUT.jsonl.shards/shard-K-of-N.jsonl``,
  the same exactly-once journal as a local run). When every shard is done,
  :func:`~orchestra.batch.journal.merge_journals` writes OUT.jsonl with one line per ``custom_id``,
  and the shard directory is removed. A run that starts with an OUT.jsonl and no matching shard
  directory first splits OUT.jsonl into fresh shards (:func:`prepare_shards`), so done rows stay done
  whatever engine or shard count the previous run used.

- **Row spans.** While the driver records a trace (``--trace FILE``, OpenTelemetry), each shard
  records its rows' spans (one ``row`` span a request, as the local engine does) and returns them
  with its summary; the driver adds them to its trace under the command's span, placed on its
  clock by each shard's wall-clock start. They are added when the shards finish, not live.

``ray`` is an optional extra (``pip install orchestra-runtime[ray]``). Nothing here imports it at module
level, and the actor class is a plain class that tests can also use without Ray.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import anyio

from orchestra.batch.formats import BadLine, BatchRow, JsonlSource, LineRef
from orchestra.batch.journal import iter_journal, merge_journals, winning_lines
from orchestra.batch.runner import BatchRunner, lane_concurrency
from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.headers import DEFAULT_MAX_RETRY_AFTER
from orchestra.endpoints.limited import LimitedEndpoint, close_stream, failure_effect
from orchestra.endpoints.limits import Outcome, Permit, RateLimiter
from orchestra.endpoints.routing import RoutingPolicy
from orchestra.errors import EndpointUnavailable, UsageError
from orchestra.trace import Span, Trace, current_span, current_trace

__all__ = [
    "LimiterActor",
    "ShardSource",
    "SharedLimitedEndpoint",
    "SharedRoutingPolicy",
    "prepare_shards",
    "run_ray",
    "shard_of",
    "shard_paths",
]

_PERMIT: ContextVar[int | None] = ContextVar("orchestra_shared_permit", default=None)
_SPANS = "_row_spans"  # the key of a shard summary's row spans (removed before summaries are combined)
_DEFAULT_MAX_TOKENS = 1024  # completion budget debited for a request that sets none (as LimitedEndpoint)


# -- sharding ---------------------------------------------------------------------------------


def shard_of(custom_id: str, shards: int) -> int:
    """The shard of a row: a stable hash of its id (the same in every process and every run)."""
    return zlib.crc32(custom_id.encode("utf-8")) % shards


def shard_paths(output: Path, shards: int) -> list[Path]:
    """The journal of each shard: ``OUT.jsonl.shards/shard-K-of-N.jsonl``."""
    folder = output.with_name(output.name + ".shards")
    return [folder / f"shard-{k:04d}-of-{shards:04d}.jsonl" for k in range(shards)]


def prepare_shards(output: Path, shards: int) -> list[Path]:
    """Make the shard journals for a run of ``shards`` shards, and return their paths.

    Shard journals left by an interrupted run with the same count are used as they are, unless
    OUT.jsonl is newer than all of them (a later local run wrote it). Otherwise every row already
    in OUT.jsonl or in any old shard is split into fresh shard journals by :func:`shard_of`,
    written to a temporary folder that then replaces the old one, so a crash here loses nothing.
    """
    paths = shard_paths(output, shards)
    folder = paths[0].parent
    old = sorted(folder.glob("shard-*.jsonl")) if folder.exists() else []
    if old and set(old) == set(p for p in paths if p.exists()) and len(old) == shards:
        newest = max(p.stat().st_mtime for p in old)
        if not output.exists() or output.stat().st_mtime <= newest:
            return paths
    sources = ([output] if output.exists() else []) + old
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    winners = winning_lines(sources, None) if sources else {}
    handles = [open(staging / p.name, "wb") for p in paths]  # closed together, below
    try:
        for index, source in enumerate(sources):
            with open(source, "rb") as raw:
                for _, offset, row in iter_journal(source):
                    if winners.get(row["custom_id"]) == (index, offset):
                        raw.seek(offset)
                        handles[shard_of(row["custom_id"], shards)].write(raw.readline())
    finally:
        for handle in handles:
            handle.close()
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return paths


class ShardSource:
    """The rows of one shard of a JSONL input (see :func:`shard_of`).

    Args:
        inner: the whole input.
        index: this shard.
        count: the number of shards.
    """

    def __init__(self, inner: JsonlSource, index: int, count: int) -> None:
        self.inner = inner
        self.index = index
        self.count = count

    def scan(self) -> Iterator[tuple[LineRef, BatchRow | BadLine]]:
        for ticket, item in self.inner.scan():
            if shard_of(item.custom_id, self.count) == self.index:
                yield ticket, item

    def load(self, ticket: LineRef) -> BatchRow:
        return self.inner.load(ticket)

    def close(self) -> None:
        self.inner.close()


# -- the shared limiter -----------------------------------------------------------------------


class _NoEndpoint:
    """What the limiter actor's waiting helper wraps: it only ever acquires, never sends."""

    name = "shared-limiter"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise RuntimeError("the shared limiter sends no requests")

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        raise RuntimeError("the shared limiter sends no requests")

    async def aclose(self) -> None:
        return None


class LimiterActor:
    """One endpoint's :class:`RateLimiter`, served to every worker (a Ray actor under ``run_ray``).

    Waiting happens here, with :meth:`LimitedEndpoint.acquire` (no queue, no head-of-line
    blocking), so a worker's ``acquire`` returns when its request may go. Permits are handed out
    as integers, since a :class:`Permit` stays in this process.

    Args:
        rpm, tpm, max_concurrency, window, adaptive, initial_concurrency: as :class:`RateLimiter`.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        max_concurrency: int | None = None,
        window: float = 60.0,
        adaptive: bool = False,
        initial_concurrency: int = 100,
    ) -> None:
        self.limiter = RateLimiter(
            rpm=rpm,
            tpm=tpm,
            max_concurrency=max_concurrency,
            window=window,
            adaptive=adaptive,
            initial_concurrency=initial_concurrency,
        )
        self._waiter = LimitedEndpoint(_NoEndpoint(), self.limiter)
        self._permits: dict[int, Permit] = {}
        self._ids = itertools.count(1)
        self.disabled: str | None = None

    async def acquire(self, tokens: int) -> int:
        """Wait until a request of ``tokens`` tokens may be sent; returns its permit number, or 0
        when the endpoint is disabled (see :meth:`disable`; :meth:`reason` says why)."""
        if self.disabled is not None:
            return 0
        permit = await self._waiter.acquire(tokens)
        if self.reason() is not None:  # disabled while this request waited: it is not sent
            self.limiter.release(permit, 0, Outcome.CANCELLED)
            return 0
        number = next(self._ids)
        self._permits[number] = permit
        return number

    def disable(self, reason: str) -> None:
        """Take the endpoint out of use for every worker, for good (the first reason is kept)."""
        if self.disabled is None:
            self.disabled = reason

    def reason(self) -> str | None:
        """Why the endpoint is disabled (None: it is in use)."""
        return self.disabled

    def release(self, number: int, used_tokens: int | None, outcome: str) -> None:
        """Hand a permit back (``outcome``: an :class:`Outcome` value)."""
        permit = self._permits.pop(number, None)
        if permit is not None:
            self.limiter.release(permit, used_tokens, Outcome(outcome))

    def pause(self, seconds: float) -> None:
        """Pause the endpoint for every worker (a 429)."""
        self.limiter.pause(seconds)

    def observe(self, headers: dict[str, str], number: int | None) -> None:
        """Learn limits from a response's ``x-ratelimit-*`` headers."""
        self.limiter.observe_headers(headers, self._permits.get(number) if number is not None else None)

    def stats(self) -> dict[str, Any]:
        """The limiter's counters as a plain dict."""
        stats = self.limiter.stats
        return {name: getattr(stats, name) for name in stats.__dataclass_fields__}


class SharedLimitedEndpoint(WrapperEndpoint):
    """An endpoint whose requests take permits from a shared :class:`LimiterActor`.

    Args:
        inner: the endpoint to limit (its ``on_headers`` hook, when it has one, feeds the actor).
        limiter: a Ray actor handle of :class:`LimiterActor`, or a :class:`LimiterActor` itself.
        default_max_tokens: completion tokens debited for a request that sets no ``max_tokens``.
        max_retry_after: the longest pause a server's Retry-After may impose on every worker.
    """

    def __init__(
        self,
        inner: Endpoint,
        limiter: Any,
        *,
        default_max_tokens: int = _DEFAULT_MAX_TOKENS,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        super().__init__(inner)
        self.shared = limiter
        self.default_max_tokens = default_max_tokens
        self.max_retry_after = max_retry_after
        if hasattr(inner, "on_headers"):
            inner.on_headers = self._observe

    async def _call(self, method: str, *args: Any) -> Any:
        target = getattr(self.shared, method)
        if hasattr(target, "remote"):
            return await target.remote(*args)
        result = target(*args)
        return await result if hasattr(result, "__await__") else result

    def _observe(self, headers: dict[str, str]) -> None:
        target = self.shared.observe
        if hasattr(target, "remote"):
            target.remote(dict(headers), _PERMIT.get())  # fire and forget: learning may lag a little
        else:
            target(dict(headers), _PERMIT.get())

    async def _acquire(self, tokens: int) -> int:
        number = int(await self._call("acquire", tokens))
        if number == 0:  # another worker found the endpoint unusable: fail as it did, unsent
            reason = await self._call("reason")
            raise EndpointUnavailable(str(reason or f"{self.name}: disabled"), endpoint=self.name)
        return number

    def _tokens(self, request: ChatRequest) -> int:
        budget = request.max_tokens or request.extra.get("max_completion_tokens") or self.default_max_tokens
        return request.estimated_prompt_tokens() + int(budget) * request.n

    async def _failed(self, number: int, tokens: int, exc: BaseException) -> None:
        pause, used, outcome = failure_effect(exc, tokens, max_retry_after=self.max_retry_after)
        with anyio.CancelScope(shield=True):  # the permit must come back even when we are cancelled
            if pause is not None:
                await self._call("pause", pause)
            await self._call("release", number, used, outcome.value)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        tokens = self._tokens(request)
        number = await self._acquire(tokens)
        token = _PERMIT.set(number)
        try:
            response = await self.inner.complete(request)
        except BaseException as exc:
            await self._failed(number, tokens, exc)
            raise
        finally:
            _PERMIT.reset(token)
        await self._call("release", number, _used(response.usage), Outcome.OK.value)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream under one permit, released with the usage chunk's count."""
        tokens = self._tokens(request)
        number = await self._acquire(tokens)
        chunks = self.inner.stream(request)
        used: int | None = None
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    used = _used(chunk.usage)
                yield chunk
        except BaseException as exc:
            await self._failed(number, tokens, exc)
            raise
        else:
            await self._call("release", number, used, Outcome.OK.value)
        finally:
            await close_stream(chunks)


class SharedRoutingPolicy(RoutingPolicy):
    """A shard's routing policy whose disabling of an endpoint reaches every shard.

    The pool disables a member for good on a final error or when it was never reached
    (:class:`~orchestra.endpoints.routing.RoutingPolicy`); here that also disables it in the
    member's :class:`LimiterActor`, whose next ``acquire`` from any shard then refuses.

    Args:
        names: the pool's members (endpoint names).
        limiters: endpoint name -> its :class:`LimiterActor` (a Ray actor handle or the object).
    """

    def __init__(self, names: Sequence[str], limiters: Mapping[str, Any]) -> None:
        super().__init__(names)
        self.limiters = limiters

    def disable(self, name: str, reason: str) -> None:
        first = self.health[name].disabled is None
        super().disable(name, reason)
        if first and name in self.limiters:
            target = self.limiters[name].disable
            (target.remote if hasattr(target, "remote") else target)(reason)  # Ray: fire and forget


def _used(usage: Usage | None) -> int | None:
    return usage.total_tokens if usage is not None and usage.total_tokens > 0 else None


# -- the shard task ---------------------------------------------------------------------------


def _shard_lanes(
    specs: list[EndpointSpec], limiters: dict[str, Any]
) -> tuple[dict[str, Endpoint], list[Endpoint]]:
    """The endpoint stacks of one shard: ``stack.build_endpoint``'s, with the limiter shared."""
    from orchestra.endpoints.accounting import Meter, MeteredEndpoint, Price, PriceTable
    from orchestra.endpoints.pool import EndpointPool
    from orchestra.endpoints.retry import RetryingEndpoint
    from orchestra.endpoints.timeouts import FirstByteTimeout, LatencyTracker

    meter = Meter()
    members: dict[str, list[Endpoint]] = {}
    for spec in specs:
        if spec.model is None:
            raise UsageError(f"endpoint {spec.name}: no model given (use --model or set model in the file)")
        raw = spec.raw_endpoint(spec.model)
        # As stack.build_endpoint: a hung request frees its slot at the learned first-byte time.
        timed = FirstByteTimeout(raw, LatencyTracker(ceiling=spec.timeout))
        prices = PriceTable({spec.model: Price(spec.input_price, spec.output_price)})
        limited = SharedLimitedEndpoint(timed, limiters[spec.name], max_retry_after=spec.max_retry_after)
        members.setdefault(spec.model, []).append(MeteredEndpoint(limited, meter, prices, model=spec.model))
    lanes: dict[str, Endpoint] = {
        model: RetryingEndpoint(
            EndpointPool(group, name=model, policy=SharedRoutingPolicy([e.name for e in group], limiters)),
            max_retry_after=min(s.max_retry_after for s in specs if s.model == model),
        )
        for model, group in members.items()
    }
    return lanes, [e for group in members.values() for e in group]


async def _shard_main(job: dict[str, Any]) -> dict[str, Any]:
    from orchestra.batch.journal import Journal

    specs = [EndpointSpec.model_validate(d) for d in job["specs"]]
    lanes, members = _shard_lanes(specs, job["limiters"])
    try:
        runner = BatchRunner(
            lanes,
            by_model=job["by_model"],
            concurrency=job["concurrency"],
            journal=Journal(job["journal"], retry_failed=job["retry_failed"]),
            max_row_attempts=job["max_row_attempts"],
            served=job.get("served"),
        )
        source = ShardSource(JsonlSource(job["input"]), job["index"], job["count"])
        if not job.get("trace"):
            stats = await runner.run(source)
            return stats.summary(runner.probe, shard=job["index"])
        # The driver records a trace (--trace, OTel): the runner's row spans go to one of this
        # shard's own, handed back with the summary (times relative to its wall-clock start).
        trace = Trace(listeners=[])
        with trace.activate():
            stats = await runner.run(source)
        summary = stats.summary(runner.probe, shard=job["index"])
        summary[_SPANS] = {"wall_start": trace.wall_start, "spans": trace.to_dicts()}
        return summary
    finally:
        for endpoint in members:
            await endpoint.aclose()


def run_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Run one shard to the end (the body of a Ray task); returns its summary."""
    return anyio.run(_shard_main, job)


# -- the driver -------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--engine ray needs Ray: pip install 'orchestra-runtime[ray]'") from exc
    return ray


@contextlib.contextmanager
def _served(specs: list[EndpointSpec]) -> Iterator[list[EndpointSpec]]:
    """The specs with ``local`` replaced by the embedded model, started here for every worker."""
    if not any(s.is_local for s in specs):
        yield specs
        return
    from orchestra.endpoints.local import LocalModel

    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(LocalModel()) as local,
    ):
        yield [
            s.model_copy(update={"base_url": local.base_url, "model": s.model or local.model_name})
            if s.is_local
            else s
            for s in specs
        ]


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Add ``part`` into ``total``: numbers summed, dicts merged recursively, anything else kept."""
    for key, value in part.items():
        held = total.get(key)
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            total.setdefault(key, value)
        elif isinstance(held, int | float) and not isinstance(held, bool):
            total[key] = held + value
        else:
            total[key] = value


def _replay_spans(parts: list[dict[str, Any]], trace: Trace | None) -> None:
    """Add each shard's row spans (see :func:`_shard_main`) to the driver's ``trace``, as children
    of its current span, on its clock: a shard's times are placed by its wall-clock start, so
    machines whose clocks disagree shift each other's rows by that much. Removes them from
    ``parts`` either way."""
    parent = current_span()
    for index, part in enumerate(parts):  # in shard order
        shipped = part.pop(_SPANS, None)
        if trace is None or not shipped:
            continue
        offset = trace.origin + (shipped["wall_start"] - trace.wall_start)
        made: dict[int, Span] = {}
        for data in sorted(shipped["spans"], key=lambda d: d["start"]):
            up = made.get(data["parent"]) if data["parent"] is not None else None
            span = Span(
                data["name"],
                data["kind"],
                data["start"] + offset,
                None if data["end"] is None else data["end"] + offset,
                {**data["attrs"], "shard": index},
                data["error"],
                parent=up.id if up is not None else (parent.id if parent is not None else None),
            )
            made[data["id"]] = span
            if span.end is None:
                span.end = span.start  # a shard never returns with a row in flight
            trace.add(span)


def _combine(parts: list[dict[str, Any]], merged: Path, wall: float, **where: Any) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for part in parts:
        part.pop("shard", None)
        part.pop("duplicates", None)
        part.pop("wall_seconds", None)
        _add(total, part)
    ok = failed = 0
    for _, _, row in iter_journal(merged):
        if row.get("error"):
            failed += 1
        else:
            ok += 1
    total.setdefault("rows", {}).update(ok=ok, failed=failed)
    minutes = max(wall, 1e-9) / 60.0
    for entry in [*total.get("endpoints", {}).values(), *total.get("lanes", {}).values()]:
        for count, rate in (
            ("rows_ok", "rows_per_min"),
            ("requests", "requests_per_min"),
            ("total_tokens", "tokens_per_min"),
        ):
            if count in entry:
                entry[rate] = entry[count] / minutes
    total.update({k: str(v) for k, v in where.items()}, wall_seconds=wall, shards=len(parts))
    total["interrupted"] = any(p.get("interrupted") for p in parts)
    return total


def _keeping_sigterm(start: Any) -> None:
    """Call ``start`` (``ray.init``), keeping this process's SIGTERM handler.

    ``ray.init`` replaces it with one that calls ``sys.exit(15)``; the CLI's handler turns SIGTERM
    into the Ctrl-C path instead (shards cancelled, their journals kept, exit code 143).
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    start()
    if main and previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _start_limiters(ray: Any, specs: list[EndpointSpec], concurrency: int) -> dict[str, Any]:
    """One :class:`LimiterActor` per endpoint; ``num_cpus=0`` leaves the CPUs to the shard tasks."""
    actor = ray.remote(LimiterActor).options(num_cpus=0, max_concurrency=100_000)
    return {
        s.name: actor.remote(
            rpm=s.rpm,
            tpm=s.tpm,
            max_concurrency=s.max_concurrency,
            window=s.window,
            adaptive=s.max_concurrency is None,
            initial_concurrency=concurrency,
        )
        for s in specs
    }


def run_ray(
    input: Path,
    output: Path,
    specs: list[EndpointSpec],
    *,
    by_model: bool = True,
    concurrency: int = 100,
    retry_failed: bool = False,
    max_row_attempts: int = 3,
    address: str | None = None,
    shards: int | None = None,
    num_cpus: int | None = None,
) -> dict[str, Any]:
    """Run a batch file on Ray and merge the shards into ``output``; returns the combined summary.

    Args:
        input, output: as ``orchestra batch run``.
        specs: the endpoints (from :func:`~orchestra.endpoints.config.resolve_specs`).
        by_model: route rows by their model.
        concurrency: requests in flight per endpoint that states no cap, for the whole cluster
            (the shared limiter's adaptive start); each shard gets as many workers.
        retry_failed, max_row_attempts: as the local engine.
        address: a Ray cluster to join; None starts a local one (stopped at the end).
        shards: input shards (default: the cluster's CPUs).
        num_cpus: CPUs of a local Ray instance (None: Ray's default).

    Raises:
        UsageError: Ray is not installed, a spec is unusable, or an endpoint does not serve its
            model (checked before Ray starts).
        EndpointError: an endpoint's model list could not be fetched (e.g. nothing listens).
    """
    from orchestra.endpoints.served import check_models

    ray = _import_ray()
    started = time.monotonic()
    output = Path(output)
    specs, served_models = anyio.run(check_models, list(specs))
    owns = not ray.is_initialized()
    if owns:
        _keeping_sigterm(
            lambda: ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        )
    try:
        with _served(list(specs)) as served:
            count = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
            paths = prepare_shards(output, count)
            common = {
                "input": str(input),
                "count": count,
                "specs": [s.model_dump(mode="json") for s in served],
                "limiters": _start_limiters(ray, served, concurrency),
                "by_model": by_model,
                "concurrency": lane_concurrency(served, concurrency),
                "retry_failed": retry_failed,
                "max_row_attempts": max_row_attempts,
                "served": served_models,  # lanes it does not name (the embedded model's) go unchecked
            }
            trace = current_trace()
            common["trace"] = trace is not None
            task = ray.remote(run_shard).options(num_cpus=1, max_retries=0)
            refs = [task.remote({**common, "index": k, "journal": str(p)}) for k, p in enumerate(paths)]
            try:
                parts = ray.get(refs)
            except KeyboardInterrupt:
                for ref in refs:
                    ray.cancel(ref, force=True)
                raise
        _replay_spans(parts, trace)
        merge_journals([output, *paths], output)
        shutil.rmtree(paths[0].parent, ignore_errors=True)
        return _combine(parts, output, time.monotonic() - started, input=input, output=output)
    finally:
        if owns:
            ray.shutdown()
