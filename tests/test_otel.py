"""OpenTelemetry export: runs, LLM calls, tasks and batch rows as spans with GenAI attributes,
checked with the SDK's in-memory span exporter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from orchestra import Agent, tool
from orchestra.batch import BatchRunner
from orchestra.batch.formats import JsonlSource
from orchestra.otel import OTelListener, env_wants_export
from orchestra.planners import LLMCompilerPlanner
from orchestra.testing import ScriptedModel
from orchestra.trace import Trace


@tool
def lookup(name: str) -> str:
    """Facts about NAME."""
    if name == "nowhere":
        raise ValueError("no such place")
    return f"facts about {name}"


def exporter_and_root() -> tuple[InMemorySpanExporter, Trace]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, Trace(listeners=[OTelListener(provider.get_tracer("test"))])


async def test_an_agent_run_becomes_genai_spans() -> None:
    exporter, root = exporter_and_root()
    plan = '1. lookup(name="Paris")\n2. lookup(name="nowhere")\n3. join()'
    model = ScriptedModel([plan, '{"action": "finish", "answer": "Paris."}'], name="gpt-test")
    with root.activate():
        await Agent(model, [lookup], planner=LLMCompilerPlanner()).run("Where?")
    finished = exporter.get_finished_spans()
    assert {s.name for s in finished} == {"invoke_agent", "chat gpt-test", "execute_tool lookup"}
    agent = next(s for s in finished if s.name == "invoke_agent")
    chats = [s for s in finished if s.name == "chat gpt-test"]
    tools = sorted(
        (s for s in finished if s.name == "execute_tool lookup"),
        key=lambda s: s.attributes["gen_ai.tool.call.id"],
    )
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert len(chats) == 2 and len(tools) == 2
    for chat in chats:
        a = chat.attributes
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "gpt-test"
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert chat.parent is not None and chat.parent.span_id == agent.context.span_id
    planner = next(c for c in chats if c.attributes["orchestra.span.kind"] == "plan")
    assert [e.attributes["line"] for e in planner.events] == [
        "1. lookup(name='Paris')",
        "2. lookup(name='nowhere')",
        "3. join()",
    ]
    ok, failed = tools
    assert ok.attributes["gen_ai.tool.name"] == "lookup" and ok.attributes["gen_ai.tool.call.id"] == "1"
    assert ok.status.status_code is StatusCode.UNSET and ok.parent.span_id == agent.context.span_id
    assert failed.status.status_code is StatusCode.ERROR and "no such place" in failed.status.description
    assert ok.start_time < ok.end_time and agent.start_time <= ok.start_time and ok.end_time <= agent.end_time


async def test_batch_rows_become_spans(tmp_path: Path) -> None:
    exporter, root = exporter_and_root()
    rows = tmp_path / "in.jsonl"
    rows.write_text(
        "".join(json.dumps({"custom_id": f"r{i}", "prompt": f"say {i}"}) + "\n" for i in range(3))
    )
    model = ScriptedModel(["zero", "one", "two"], name="m")
    with root.activate():
        stats = await BatchRunner({"m": model}, concurrency=1).run(JsonlSource(rows))
    assert stats.ok == 3
    spans = [s for s in exporter.get_finished_spans() if s.attributes.get("orchestra.span.kind") == "row"]
    assert sorted(s.attributes["orchestra.custom_id"] for s in spans) == ["r0", "r1", "r2"]
    assert all(s.attributes["gen_ai.operation.name"] == "chat" for s in spans)
    assert all(s.attributes["gen_ai.usage.output_tokens"] >= 1 for s in spans)


def test_export_is_asked_for_by_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    assert not env_wants_export()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert env_wants_export()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not env_wants_export()
