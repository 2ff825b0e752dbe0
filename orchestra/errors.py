"""The one error tree of orchestra.

Every error orchestra raises is an :class:`OrchestraError`. Third-party errors (the ``openai``
SDK's, ``httpx2``'s, ``OSError``) are converted at the boundary with ``raise ... from exc`` into
the most specific branch below, so callers catch one root and read structured fields instead of
parsing messages.

::

    OrchestraError
    ├── UsageError            a user mistake: bad flag, bad config file, bad input
    │   └── ConfigError       an endpoint/config file that does not parse or validate
    ├── PlanError             an invalid plan (unknown tool, bad reference, cycle ...)
    ├── EndpointError         a model endpoint failed (status, retry_after, endpoint name)
    │   ├── RateLimitError    429
    │   ├── EndpointTimeout   no answer within the timeout
    │   ├── EndpointConnectionError  refused / dropped / malformed stream
    │   ├── NoHealthyEndpoint every endpoint of a pool is cooling down or failed
    │   └── EndpointUnavailable  every endpoint of a pool is unusable (quota, key, model, unreachable)
    ├── ToolError             a tool raised or timed out (task id, tool name)
    ├── OutputError           an output file could not be written (disk full, no permission)
    ├── DeadlineExceeded      a run went past its deadline
    ├── BudgetExceeded        a token/cost/sample budget ran out
    └── LocalModelError       the embedded model could not be fetched or started
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "DeadlineExceeded",
    "EndpointConnectionError",
    "EndpointError",
    "EndpointTimeout",
    "EndpointUnavailable",
    "LocalModelError",
    "NoHealthyEndpoint",
    "OrchestraError",
    "OutputError",
    "PlanError",
    "RateLimitError",
    "ToolError",
    "UsageError",
]


class OrchestraError(Exception):
    """Root of every error orchestra raises."""


class UsageError(OrchestraError):
    """A user mistake (bad flag, bad input); the CLI prints it as one line."""


class ConfigError(UsageError):
    """A configuration file or value that does not parse or validate."""


class PlanError(OrchestraError):
    """An invalid plan. The message says what is wrong, precisely enough for the planner to fix
    it; an instruction meant only for the model ("answer with JSON only") goes in ``hint``, so that
    what a user is shown (``str(error)``) carries no text written for the model.

    Args:
        message: what is wrong.
        task_id: the task the finding is about, when there is one.
        hint: what the model should do instead, added to :attr:`feedback` only.
    """

    def __init__(self, message: str, *, task_id: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.hint = hint

    @property
    def feedback(self) -> str:
        """The repair feedback sent back to the planner: the message and the hint."""
        message = str(self)
        return f"{message}; {self.hint}" if self.hint else message


class EndpointError(OrchestraError):
    """A model endpoint failed.

    Args:
        message: human-readable description.
        status: HTTP status code, or None for transport-level failures.
        retry_after: seconds the server asked us to wait (Retry-After / retry-after-ms), if any.
        endpoint: name of the endpoint that failed.
        headers: response headers, lower-cased, when there was a response.
        code: the error code of the response body (OpenAI's ``error.code``, else ``error.type``),
            e.g. ``insufficient_quota``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        endpoint: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.endpoint = endpoint
        self.headers = headers or {}
        self.code = code

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed (408, 409, 429 but not an exhausted quota, 5xx,
        transport failures); :func:`orchestra.faults.classify` decides."""
        from orchestra.faults import classify  # the one classification; it imports this module

        return classify(self).retryable


class RateLimitError(EndpointError):
    """The endpoint answered 429; ``retry_after`` says for how long it wants us to pause."""


class EndpointTimeout(EndpointError):
    """No (complete) answer within the request timeout."""


class EndpointConnectionError(EndpointError):
    """The connection was refused or dropped, or the body could not be parsed.

    ``reached`` is False when no connection was made at all (refused, unreachable, DNS): an
    endpoint that has never been reached is given up on quickly (see
    :class:`orchestra.endpoints.routing.RoutingPolicy`).
    """

    def __init__(self, message: str, *, reached: bool = True, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.reached = reached


class NoHealthyEndpoint(EndpointError):
    """Every endpoint of a pool is failing or cooling down."""


class EndpointUnavailable(EndpointError):
    """Every endpoint of a pool is unusable for a reason no wait will fix (final, not retried).

    An exhausted quota, a refused key, an unknown model, or an endpoint that never answered.
    ``status`` and ``code`` are those of the last member's error.
    """


class ToolError(OrchestraError):
    """A tool raised, timed out or got bad arguments.

    Args:
        message: what went wrong.
        tool: the tool's name.
        task_id: the plan task that called it, if any.
    """

    def __init__(self, message: str, *, tool: str | None = None, task_id: int | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.task_id = task_id


class OutputError(OrchestraError):
    """An output file could not be written (disk full, no permission, I/O error).

    Args:
        message: one line naming the file and the operating system's reason.
        path: the file.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class DeadlineExceeded(OrchestraError):
    """A run went past its deadline (``Agent.run_timeout``, ``Executor.run_timeout``)."""


class BudgetExceeded(OrchestraError):
    """A token, cost or sample budget ran out."""


class LocalModelError(OrchestraError):
    """The embedded local model could not be downloaded, verified or started."""
