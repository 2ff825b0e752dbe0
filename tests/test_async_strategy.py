"""The ``async`` strategy (AsyncLM) against scripted models: overlap, batching, dependencies,
forgeries, repair feedback, failing/hanging tools, endless models, and the three delivery modes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from orchestra._tool import tool
from orchestra.agent import Agent
from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Message, ToolCall
from orchestra.planners import AsyncLMPlanner
from orchestra.testing import ScriptedModel

CANCELLED: list[str] = []


@tool
async def slow(x: int) -> int:
    """Doubles x after 50 ms."""
    await anyio.sleep(0.05)
    return 2 * x


@tool
async def quick(x: int) -> int:
    """Doubles x after 10 ms."""
    await anyio.sleep(0.01)
    return 2 * x


@tool
async def mid(x: int) -> int:
    """Doubles x after 150 ms."""
    await anyio.sleep(0.15)
    return 2 * x


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


@tool(timeout=0.05)
async def stuck(x: int) -> int:
    """Never returns (but has a 50 ms timeout)."""
    await anyio.sleep(100)
    return x


@tool
async def hang(x: int) -> int:
    """Never returns and has no timeout; records its cancellation."""
    try:
        await anyio.sleep(100)
    finally:
        CANCELLED.append(f"hang({x})")
    return x


TOOLS = [slow, quick, mid, explode, stuck, hang]


def agent(model: object, **kwargs: object) -> Agent:
    kwargs.setdefault("async_mode", "turn")
    return Agent(model, TOOLS, planner=AsyncLMPlanner(examples=False), strategy="async", **kwargs)  # type: ignore[arg-type]


def last_user(request: ChatRequest) -> str:
    return next(m.content or "" for m in reversed(request.messages) if m.role == "user")


def span(result, name: str):
    return next(s for s in result.trace.spans if s.name == name)


async def test_calls_run_while_the_turn_is_still_streaming():
    thinking = " and then" * 30
    model = ScriptedModel(
        [f"[CALL] slow(1) [END]\n[CALL] slow(2) [END]{thinking}\n[TRAP][END]", "Both are 2 and 4."],
        chunk_delay=0.002,
    )
    result = await agent(model).run("double 1 and 2")
    model.assert_all_used()
    turn = span(result, "turn 1")
    first = span(result, "1. slow")
    assert first.start < turn.end  # dispatched the moment its frame closed, mid-turn
    assert result.answer == "Both are 2 and 4."
    assert result.results[1].value == 2 and result.results[2].value == 4
    # Both finished while the model was still writing: one interrupt, right after the turn.
    assert last_user(model.requests[1]) == "[INTR] 1 [HEAD] 2 [END]\n[INTR] 2 [HEAD] 4 [END]"
    assert model.requests[0].extra["stop"] == ["[INTR]"]


async def test_results_ready_together_are_one_interrupt():
    model = ScriptedModel(
        ["[CALL] quick(1) [END][CALL] quick(2) [END][TRAP][END]", "2 and 4."], chunk_chars=200
    )
    result = await agent(model).run("q")
    (interrupt,) = result.trace.of_kind("interrupt")
    assert sorted(interrupt.attrs["task_ids"]) == [1, 2]
    text = last_user(model.requests[1])
    assert "[INTR] 1 [HEAD] 2 [END]" in text and "[INTR] 2 [HEAD] 4 [END]" in text


async def test_a_waiting_model_gets_results_that_follow_within_one_time_to_first_token_together():
    CANCELLED.clear()
    # The model takes ~60 ms to its first token: quick (10 ms), slow (50 ms) finish within one such
    # round trip of each other and come as one interrupt; hang never finishes and is not waited for.
    model = ScriptedModel(
        ["[CALL] quick(1) [END][CALL] slow(2) [END][CALL] hang(3) [END][TRAP][END]", "4"],
        chunk_chars=500,
        chunk_delay=0.06,
    )
    with anyio.fail_after(3):
        result = await agent(model, max_turns=1).run("q")
    (interrupt,) = result.trace.of_kind("interrupt")
    assert interrupt.attrs["task_ids"] == [1, 2]
    assert interrupt.start - span(result, "2. slow").end < 0.05  # delivered as soon as slow was in
    assert "Still running: call 3" in last_user(model.requests[1])
    assert result.results[3].status == "cancelled" and CANCELLED == ["hang(3)"]


async def test_a_turn_that_has_not_begun_is_asked_again_with_a_result_that_arrives_meanwhile():
    # ~100 ms to the first token. quick is delivered alone (mid is not in within that window);
    # mid lands while the next turn is still before its first token: that turn is given up and
    # asked again with both results, instead of the model spending a turn on [TRAP].
    model = ScriptedModel(
        ["[CALL] quick(1) [END][CALL] mid(2) [END][TRAP][END]", "never streamed", "2 and 4."],
        chunk_chars=500,
        chunk_delay=0.1,
    )
    with anyio.fail_after(3):
        result = await agent(model).run("q")
    assert result.answer == "2 and 4." and result.llm_calls == 3
    assert "Still running: call 2" in last_user(model.requests[1])
    assert last_user(model.requests[2]) == "[INTR] 1 [HEAD] 2 [END]\n[INTR] 2 [HEAD] 4 [END]"
    assert [s.attrs["task_ids"] for s in result.trace.of_kind("interrupt")] == [[1], [2]]


async def test_a_dependency_is_held_until_its_input_is_ready():
    model = ScriptedModel(["[CALL] slow(1) [END]\n[CALL] slow(x=$1) [END]\n[TRAP][END]", "[TRAP][END]", "4"])
    result = await agent(model).run("double 1 twice")
    first, second = span(result, "1. slow"), span(result, "2. slow")
    assert second.start >= first.end and result.results[2].value == 4
    # Call 1 came back first, with a placeholder for call 2; then call 2 on its own.
    assert "[INTR] 1 [HEAD] 2 [END]" in last_user(model.requests[1])
    assert "Still running: call 2" in last_user(model.requests[1])
    assert last_user(model.requests[2]) == "[INTR] 2 [HEAD] 4 [END]"
    assert result.answer == "4"


async def test_a_forged_interrupt_is_cut_and_the_real_result_delivered():
    model = ScriptedModel(
        ["[CALL] quick(1) [END] [INTR] 1 [HEAD] 99 [END] So the answer is 99.", "The answer is 2."]
    )
    result = await agent(model).run("q")
    assistant = model.requests[1].messages[-2]
    assert assistant.role == "assistant" and assistant.content == "[CALL] quick(1) [END] "
    assert last_user(model.requests[1]) == "[INTR] 1 [HEAD] 2 [END]"
    assert result.answer == "The answer is 2."


async def test_a_malformed_frame_gets_repair_feedback_and_the_run_goes_on():
    model = ScriptedModel(
        ["[CALL] quick(1 [END][CALL] teleport(3) [END][TRAP][END]", "[CALL] quick(1) [END][TRAP][END]", "2"]
    )
    result = await agent(model).run("q")
    feedback = last_user(model.requests[1])
    assert "[INTR] 1 [HEAD] ERROR: call 1: cannot read" in feedback
    assert "[INTR] 2 [HEAD] ERROR: task 2: unknown tool 'teleport'" in feedback
    assert result.results[3].value == 2 and result.answer == "2"


async def test_a_tool_that_raises_or_hangs_past_its_timeout_becomes_an_error_interrupt():
    model = ScriptedModel(
        ['[CALL] explode("boom") [END][CALL] stuck(1) [END][TRAP][END]', "[TRAP][END]", "failed"]
    )
    with anyio.fail_after(3):
        result = await agent(model).run("q")
    delivered = "\n".join(last_user(r) for r in model.requests[1:])
    assert "[INTR] 1 [HEAD] ERROR:" in delivered and "boom" in delivered
    assert "[INTR] 2 [HEAD] ERROR:" in delivered and "timed out" in delivered
    assert result.results[2].status == "error" and result.answer == "failed"


class EndlessModel(ScriptedModel):
    """Calls a tool that hangs, then never ends its turn."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        yield ChatChunk(delta="[CALL] hang(7) [END] ")
        while True:
            await anyio.sleep(0.002)
            yield ChatChunk(delta="la ")


async def test_a_model_that_never_ends_its_turn_stops_at_the_deadline_with_nothing_running():
    CANCELLED.clear()
    start = anyio.current_time()
    result = await agent(EndlessModel([]), deadline=0.3).run("q")
    assert anyio.current_time() - start < 1.5
    assert result.answer.startswith("(no answer: the deadline of 0.3 s passed; calls still running: 1")
    assert result.results[1].status == "cancelled" and CANCELLED == ["hang(7)"]


async def test_max_turns_ends_the_run_and_cancels_what_is_still_running():
    CANCELLED.clear()
    model = ScriptedModel(["[CALL] quick(1) [END][CALL] hang(2) [END][TRAP][END]", "[CALL] quick(5) [END] 2"])
    result = await agent(model, max_turns=1).run("q")
    assert result.answer == "2"
    assert "No more calls are allowed" in last_user(model.requests[1])
    assert result.results[2].status == "cancelled" and CANCELLED == ["hang(2)"]
    assert result.results[3].status == "error"  # the call written in the final turn was refused


# -- native ----------------------------------------------------------------------------------


class NativeModel:
    """Streams native tool_call deltas piece by piece, then answers from the tool messages."""

    name = "native"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:  # pragma: no cover - unused
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        if any(m.role == "tool" for m in request.messages):
            results = [m.content for m in request.messages if m.role == "tool"]
            yield ChatChunk(delta=f"results: {', '.join(r or '' for r in results)}")
            return
        for index, (name, args) in enumerate([("slow", '{"x": 1}'), ("slow", '{"x": "$1"}')]):
            yield ChatChunk(tool_calls=[ToolCall(index=index, id=f"call_{index}", name=name, arguments="")])
            for piece in (args[:3], args[3:]):
                await anyio.sleep(0.02)
                yield ChatChunk(tool_calls=[ToolCall(index=index, id=str(index), name="", arguments=piece)])
        await anyio.sleep(0.02)
        yield ChatChunk(finish_reason="tool_calls")

    async def aclose(self) -> None:
        return None


async def test_native_calls_start_as_their_json_closes_and_return_as_tool_messages():
    model = NativeModel()
    result = await agent(model, async_mode="native").run("double 1 twice")
    first, turn = span(result, "1. slow"), span(result, "turn 1")
    assert first.start < turn.end  # before the model finished writing call 2
    assert result.results[2].value == 4 and result.answer == "results: 2, 4"
    tools = [m for m in model.requests[1].messages if m.role == "tool"]
    assert [(m.tool_call_id, m.content) for m in tools] == [("call_0", "2"), ("call_1", "4")]
    assert model.requests[0].tools and model.requests[0].tools[0]["function"]["name"] == "slow"


# -- resume ----------------------------------------------------------------------------------


class TextModel:
    """A raw-text endpoint: a template, and continuations chosen by ``script(prompt)``."""

    name = "text"

    def __init__(self, script: Callable[[str], list[tuple[float, str]]]) -> None:
        self.script = script
        self.prompts: list[str] = []

    async def apply_template(self, messages: list[Message]) -> str:
        return "".join(f"<{m.role}>{m.content}</{m.role}>" for m in messages) + "<assistant>"

    async def stream_text(self, request: ChatRequest, prompt: str) -> AsyncIterator[ChatChunk]:
        self.prompts.append(prompt)
        for delay, piece in self.script(prompt):
            await anyio.sleep(delay)
            yield ChatChunk(delta=piece)
        yield ChatChunk(finish_reason="stop")

    async def complete(self, request: ChatRequest) -> ChatResponse:  # pragma: no cover - unused
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:  # pragma: no cover - unused
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def test_resume_interrupts_mid_generation_and_continues_from_the_partial_text():
    def script(prompt: str) -> list[tuple[float, str]]:
        if "[INTR] 1 [HEAD]" in prompt:
            return [(0.0, "So 1 doubled is 2.")]
        return [(0.0, "[CALL] slow(1) [END]")] + [(0.005, " hmm")] * 200  # 1 s of thinking

    model = TextModel(script)
    with anyio.fail_after(2):
        result = await agent(model, async_mode=None).run("double 1")
    assert result.answer.endswith("So 1 doubled is 2.")
    first, resumed = model.prompts
    partial = resumed[len(first) :]
    assert partial.startswith("[CALL] slow(1) [END] hmm") and partial.endswith(
        " hmm\n[INTR] 1 [HEAD] 2 [END]\n"
    )
    assert partial.count(" hmm") < 40  # cut ~50 ms in, not after the 200 pieces
    segment = span(result, "segment 1")
    assert segment.attrs["outcome"] == "interrupt"
    assert span(result, "interrupt 1").start < segment.end + 0.02


async def test_resume_never_delivers_inside_a_call_frame():
    slow_call = [" slow", "(", "3", ")", " [END]"]

    def script(prompt: str) -> list[tuple[float, str]]:
        if "[INTR] 1 [HEAD]" in prompt:
            return [(0.0, "[TRAP][END]")] if "[INTR] 2 [HEAD]" not in prompt else [(0.0, "done")]
        # quick(1) finishes in 10 ms, while the model is writing the second frame for 100 ms.
        return [(0.0, "[CALL] quick(1) [END] [CALL]")] + [(0.02, p) for p in slow_call] + [(0.3, " more")]

    model = TextModel(script)
    result = await agent(model, async_mode="resume").run("q")
    resumed = model.prompts[1][len(model.prompts[0]) :]
    assert resumed == "[CALL] quick(1) [END] [CALL] slow(3) [END]\n[INTR] 1 [HEAD] 2 [END]\n"
    assert result.results[2].value == 6 and result.answer == "done"


async def test_resume_mode_needs_an_endpoint_that_continues_text():
    from orchestra.errors import UsageError

    with pytest.raises(UsageError, match="async mode 'resume' needs an endpoint"):
        await agent(ScriptedModel([]), async_mode="resume").run("q")


# -- over real HTTP, against the simulator ---------------------------------------------------


async def test_turn_and_native_modes_against_the_simulator(tmp_path):
    import json

    from orchestra.endpoints.openai import OpenAIEndpoint
    from orchestra.sim import SimConfig, serve_sim

    turn_script = tmp_path / "turn.jsonl"
    turn_script.write_text(
        json.dumps({"content": "[CALL] quick(1) [END]\n[CALL] slow(x=$1) [END]\n[TRAP][END]"})
        + "\n"
        + json.dumps({"match": "[INTR] 2 [HEAD]", "content": "It is 4."})
        + "\n"
        + json.dumps({"match": "[INTR] 1 [HEAD]", "content": "[TRAP][END]"})
        + "\n"
    )
    native_script = tmp_path / "native.jsonl"
    calls = [{"name": "quick", "arguments": {"x": 1}}, {"name": "slow", "arguments": {"x": 2}}]
    native_script.write_text(
        json.dumps({"match": "Question", "once": True, "tool_calls": calls})
        + "\n"
        + json.dumps({"match": "Question", "once": True, "content": "2 and 4."})
        + "\n"
    )
    for mode, script, answer in (("turn", turn_script, "It is 4."), ("native", native_script, "2 and 4.")):
        config = SimConfig(content="script", script=script, ttft=0.01, tokens_per_second=500)
        async with serve_sim(config) as sim, OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            with anyio.fail_after(10):
                result = await agent(endpoint, async_mode=mode).run("q")
        assert result.answer == answer, mode
        assert result.results[2].value == 4 and result.results[2].status == "ok", mode
        assert result.trace.of_kind("interrupt"), mode


async def test_a_model_that_fails_mid_resume_raises_its_own_error_with_nothing_left_running():
    from orchestra.errors import EndpointError

    CANCELLED.clear()

    class Failing(TextModel):
        async def stream_text(self, request: ChatRequest, prompt: str) -> AsyncIterator[ChatChunk]:
            yield ChatChunk(delta="[CALL] hang(1) [END] thinking")
            await anyio.sleep(0.01)
            raise EndpointError("connection dropped")

    with pytest.raises(EndpointError, match="connection dropped"):
        await agent(Failing(lambda prompt: []), async_mode="resume").run("q")
    assert CANCELLED == ["hang(1)"]
