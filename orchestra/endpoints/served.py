"""Which model an endpoint serves: the model asked for, or an error that says so, never a substitute.

A command that names ``--model gpt-4o`` must get gpt-4o's answers, or a one-line error; a server
that lists exactly one model needs no ``--model`` at all. :func:`choose_model` is the pure rule;
:func:`discover` asks the server (``GET /v1/models``) and applies it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import EndpointError, UsageError

__all__ = ["check_models", "choose_model", "discover", "listing"]

_SHOWN = 8  # models named in an error before "..."


def listing(models: Sequence[str]) -> str:
    """``a, b, c`` (at most a few names, then how many more)."""
    names = sorted(models)
    more = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def choose_model(endpoint: str, requested: str | None, served: Sequence[str]) -> str:
    """The model to send to ``endpoint``, given what it serves.

    Args:
        endpoint: the endpoint's name (for the message).
        requested: ``--model`` (or the endpoints file's ``model``), or None.
        served: the model ids the endpoint lists.

    Returns:
        ``requested`` if served; the only served model if none was requested.

    Raises:
        UsageError: the requested model is not served (the message lists what is, and the closest
            name), or none was requested and the endpoint serves several or none.
    """
    if requested is not None:
        if requested in served:
            return requested
        close = difflib.get_close_matches(requested, list(served), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"endpoint {endpoint} does not serve model {requested!r}{hint}; it serves: {listing(served)}"
        )
    if len(served) == 1:
        return served[0]
    if not served:
        raise UsageError(f"endpoint {endpoint} lists no models; name one with --model")
    raise UsageError(f"endpoint {endpoint} serves several models; choose one with --model: {listing(served)}")


async def discover(
    endpoint: OpenAIEndpoint, requested: str | None, *, strict: bool = True
) -> tuple[str | None, frozenset[str] | None]:
    """Ask ``endpoint`` what it serves and pick the model (:func:`choose_model`).

    Args:
        endpoint: the raw endpoint (its ``name`` labels messages).
        requested: the model asked for, or None.
        strict: when the list cannot be fetched (unreachable, or the server has no ``/models``),
            raise rather than trust ``requested``. A pool of several endpoints is not strict: one
            endpoint that is down must not stop the others.

    Returns:
        (the model to send, the set of models served or None when unknown).

    Raises:
        UsageError: see :func:`choose_model`; also a base URL that answers 404 and lacks ``/v1``.
        EndpointError: ``strict`` and the list could not be fetched (or no model was requested).
    """
    try:
        served = await endpoint.models()
    except EndpointError as exc:
        if exc.status == 404 and "did you mean" in str(exc):
            raise UsageError(str(exc)) from exc
        if requested is None or (strict and exc.status is None):
            raise
        return requested, None  # the server has no model list (or is down): trust the request
    return choose_model(endpoint.name, requested, served), frozenset(served)


async def check_models(
    specs: Sequence[EndpointSpec],
) -> tuple[list[EndpointSpec], dict[str, frozenset[str] | None]]:
    """Each spec with its model checked against its server (:func:`discover`), for engines that
    build their endpoints elsewhere (the Ray engine's shards). The embedded model (``local``) is
    left as it is: it is started later, and serves what it is given.

    Returns:
        (the specs, each with the model to send; model -> every model its endpoints list, or None
        when unknown), as :func:`orchestra.endpoints.stack.connect` with ``check_models`` finds them.

    Raises:
        UsageError, EndpointError: as :func:`discover`, for the first spec that fails.
    """
    checked: list[EndpointSpec] = []
    served: dict[str, frozenset[str] | None] = {}
    for spec in specs:
        if spec.is_local:
            checked.append(spec)
            continue
        raw = spec.raw_endpoint()
        try:
            model, listed = await discover(raw, spec.model, strict=len(specs) == 1)
        finally:
            await raw.aclose()
        checked.append(spec.model_copy(update={"model": model}))
        key = model or ""
        if listed is None or served.get(key, frozenset()) is None:
            served[key] = None  # one member with an unknown list: the pool's is unknown
        else:
            served[key] = (served.get(key) or frozenset()) | listed
    return checked, served
