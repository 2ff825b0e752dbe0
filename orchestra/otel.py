"""OpenTelemetry export: runs, LLM calls, tasks and batch rows as OTel spans.

Needs the optional extra ``pip install "orchestra-runtime[otel]"`` (the OpenTelemetry SDK and its
OTLP/HTTP exporter). The CLI exports when the standard environment asks for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER=otlp|console``), so any OpenTelemetry back end (Jaeger, Phoenix, Langfuse,
Logfire, LangSmith ...) receives the run. A program adds :class:`OTelListener` itself::

    from opentelemetry import trace as otel_trace
    from orchestra.otel import instrument

    instrument(otel_trace.get_tracer_provider())   # every later orchestra trace is exported

Spans follow the OpenTelemetry GenAI semantic conventions: an LLM call is ``chat {model}`` with
``gen_ai.operation.name = "chat"``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` and
``gen_ai.usage.output_tokens``; a task is ``execute_tool {tool}`` with ``gen_ai.tool.name`` and
``gen_ai.tool.call.id``; an agent run is ``invoke_agent`` with ``gen_ai.operation.name =
"invoke_agent"``. orchestra's own details go under ``orchestra.*``. Messages and responses are
not exported (they may hold personal data; the trace file has them). Secrets are redacted.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from orchestra.redact import redact
from orchestra.trace import Span, SpanEvent, Trace, TraceListener, add_global_listener

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer
    from opentelemetry.trace import TracerProvider as ApiTracerProvider

__all__ = ["OTelListener", "env_wants_export", "instrument", "provider_from_env"]

_PROVIDER = "openai"  # every endpoint speaks the OpenAI wire format
_LLM_KINDS = frozenset({"plan", "join", "llm"})
_SCALAR = (str, bool, int, float)


def env_wants_export() -> bool:
    """Whether the standard ``OTEL_*`` variables ask for traces to be exported."""
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        exporter
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def provider_from_env() -> TracerProvider:
    """A tracer provider configured by the environment: service name and resource from
    ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``, exporter from ``OTEL_TRACES_EXPORTER``
    (``otlp``, the default, reads ``OTEL_EXPORTER_OTLP_*``; ``console`` prints to stderr).

    Raises:
        UsageError: the ``[otel]`` extra is not installed.
    """
    _require()
    import sys

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    service = {"service.name": os.environ.get("OTEL_SERVICE_NAME", "orchestra")}
    provider = TracerProvider(resource=Resource.create(service))
    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _require() -> None:
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        from orchestra.errors import UsageError

        raise UsageError(
            'OpenTelemetry export needs the otel extra: pip install "orchestra-runtime[otel]"'
        ) from None


def instrument(provider: ApiTracerProvider | None = None) -> OTelListener:
    """Export every orchestra trace made from now on through ``provider`` (default: the global one)."""
    from opentelemetry import trace as otel_trace

    tracer = (provider or otel_trace.get_tracer_provider()).get_tracer("orchestra")
    listener = OTelListener(tracer)
    add_global_listener(listener)
    return listener


def attributes(span: Span) -> dict[str, Any]:
    """The OTel attributes of one span (GenAI semantic conventions where they apply)."""
    a = span.attrs
    out: dict[str, Any] = {"orchestra.span.kind": span.kind}
    if span.kind in _LLM_KINDS or span.kind == "row":
        out["gen_ai.operation.name"] = "chat"
        out["gen_ai.provider.name"] = _PROVIDER
        if a.get("model") is not None:
            out["gen_ai.request.model"] = str(a["model"])
        if a.get("response_model"):
            out["gen_ai.response.model"] = str(a["response_model"])
        if "prompt_tokens" in a:
            out["gen_ai.usage.input_tokens"] = int(a["prompt_tokens"])
        if "completion_tokens" in a:
            out["gen_ai.usage.output_tokens"] = int(a["completion_tokens"])
        request = a.get("request")
        if isinstance(request, dict):
            for key, name in (
                ("max_tokens", "max_tokens"),
                ("temperature", "temperature"),
                ("top_p", "top_p"),
            ):
                if request.get(key) is not None:
                    out[f"gen_ai.request.{name}"] = request[key]
    elif span.kind == "task":
        out["gen_ai.operation.name"] = "execute_tool"
        out["gen_ai.tool.name"] = str(a.get("tool", ""))
        out["gen_ai.tool.type"] = "function"
        if a.get("task_id") is not None:
            out["gen_ai.tool.call.id"] = str(a["task_id"])
    elif span.kind == "run":
        out["gen_ai.operation.name"] = "invoke_agent"
        out["gen_ai.agent.name"] = "orchestra"
    for key, value in a.items():
        if key in ("request", "response", "result", "answer", "question", "value"):
            continue  # content stays out of telemetry
        if isinstance(value, _SCALAR):
            out[f"orchestra.{key}"] = redact(value) if isinstance(value, str) else value
        elif isinstance(value, list) and all(isinstance(v, int) for v in value):
            out[f"orchestra.{key}"] = value
    return out


def span_name(span: Span) -> str:
    """The OTel span name: ``chat {model}``, ``execute_tool {tool}``, ``invoke_agent``, else our name."""
    if span.kind in _LLM_KINDS:
        return f"chat {span.attrs.get('model', '')}".strip()
    if span.kind == "task":
        return f"execute_tool {span.attrs.get('tool', '')}".strip()
    if span.kind == "run":
        return "invoke_agent"
    return span.name


class OTelListener(TraceListener):
    """Mirrors orchestra spans as OpenTelemetry spans, parent links and times kept.

    Args:
        tracer: from any tracer provider (the SDK's, or one a host application configured).
    """

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self._open: dict[int, Any] = {}

    @staticmethod
    def _ns(trace: Trace, t: float) -> int:
        return int((trace.wall_start + (t - trace.origin)) * 1e9)

    def _context(self, span: Span) -> Any:
        from opentelemetry import trace as otel_trace

        parent = self._open.get(span.parent) if span.parent is not None else None
        return None if parent is None else otel_trace.set_span_in_context(parent)

    def on_start(self, trace: Trace, span: Span) -> None:
        self._open[span.id] = self.tracer.start_span(
            span_name(span), context=self._context(span), start_time=self._ns(trace, span.start)
        )

    def on_event(self, trace: Trace, span: Span, event: SpanEvent) -> None:
        otel = self._open.get(span.id)
        if otel is not None:
            attrs = {k: redact(str(v)) for k, v in event.attrs.items()}
            otel.add_event(f"orchestra.{event.name}", attrs, timestamp=self._ns(trace, event.time))

    def on_end(self, trace: Trace, span: Span) -> None:
        from opentelemetry.trace import Status, StatusCode

        otel = self._open.pop(span.id, None)
        if otel is None:  # recorded finished (a task without a watcher, an interrupt)
            otel = self.tracer.start_span(
                span_name(span), context=self._context(span), start_time=self._ns(trace, span.start)
            )
        otel.set_attributes(attributes(span))
        if span.error:
            otel.set_status(Status(StatusCode.ERROR, redact(span.error)))
            otel.set_attribute("error.type", span.error.split(":", 1)[0])
        end = span.end if span.end is not None else span.start
        otel.end(end_time=self._ns(trace, end))
