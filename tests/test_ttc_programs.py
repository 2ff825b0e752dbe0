"""The programs through the allocator's async shell, with scripted and function models."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from orchestra.chat import ChatRequest, ChatResponse, Choice, Message, Usage
from orchestra.errors import UsageError
from orchestra.testing import FunctionModel, ScriptedModel
from orchestra.ttc import (
    Allocator,
    BankHeader,
    BankQuery,
    BankSample,
    BestOfK,
    Budget,
    DynasorCoT,
    EntropyCertainty,
    Lane,
    ReplayBank,
    ReplayEndpoint,
    SelfConsistency,
    WeightedBestOfN,
    append_queries,
    drive,
    read_bank,
    run,
    write_header,
)
from orchestra.ttc.dynasor import PROBE_SUFFIX


async def _run_one(program: object, model: object, budget: Budget | None = None) -> Allocator:
    allocator = Allocator(budget or Budget(), [Lane("m")])
    allocator.add("q", program)  # type: ignore[arg-type]
    await run(allocator, {"m": model})  # type: ignore[dict-item]
    return allocator


async def test_self_consistency_takes_the_majority_of_normalised_answers() -> None:
    model = ScriptedModel(["3 + 4 = 7", "The answer is 8", "so 7.0", "\\boxed{7}", "8"])
    allocator = await _run_one(SelfConsistency(ChatRequest.of("3 + 4?"), 5), model)
    model.assert_all_used()
    selection = allocator.selection("q")
    assert selection.answer == "7" and selection.samples == 5
    assert selection.details["votes"] == {"7": 3, "8": 2}


async def test_certaindex_stops_self_consistency_when_the_answers_agree() -> None:
    model = ScriptedModel(["7", "8", "7", "7", "7"])  # certainty after 5: 1 - H/log 5 = 0.69
    program = SelfConsistency(ChatRequest.of("q"), 32, stop=EntropyCertainty(0.6, min_samples=2))
    allocator = await _run_one(program, model)
    model.assert_all_used()
    assert allocator.usage("q").samples == 5
    assert allocator.selection("q").certainty == pytest.approx(0.689, abs=1e-3)


async def test_best_of_k_stops_at_the_first_accepted_sample_and_else_takes_the_best() -> None:
    def verify(text: str) -> float:
        return {"a": 0.2, "b": 0.9, "c": 1.0}.get(text.strip(), 0.0)

    model = ScriptedModel(["a", "b", "c"])
    allocator = await _run_one(BestOfK(ChatRequest.of("q"), 8, verify, extract=None), model)
    model.assert_all_used()
    assert allocator.selection("q").answer == "c" and allocator.usage("q").samples == 3

    model = ScriptedModel(["a", "b", "a"])
    allocator = await _run_one(BestOfK(ChatRequest.of("q"), 3, verify, extract=None), model)
    assert allocator.selection("q").answer == "b"


async def test_weighted_best_of_n_sums_rewards_per_answer() -> None:
    # "8" has more votes but "7" more reward: 0.9 + 0.8 > 0.1 * 3
    rewards = {"7!": 0.9, "7.0": 0.8, "8": 0.1}
    model = ScriptedModel(["8", "7!", "8", "7.0", "8"])
    program = WeightedBestOfN(ChatRequest.of("q"), 5, lambda t: rewards[t])
    allocator = await _run_one(program, model)
    assert allocator.selection("q").answer == "7"
    assert allocator.selection("q").details["weights"] == pytest.approx({"8": 0.3, "7": 1.7})


def _cot_model(chunks: list[str], probes: list[str]) -> FunctionModel:
    """Continues the chain with the next chunk; answers probes in order."""
    state = {"chunk": 0, "probe": 0}

    def answer(request: ChatRequest) -> str | ChatResponse:
        last = request.messages[-1].content or ""
        if last.endswith(PROBE_SUFFIX):
            state["probe"] += 1
            return probes[state["probe"] - 1]
        state["chunk"] += 1
        # A step cut at its token bound, as a real continuation of probe_every tokens is.
        return ChatResponse(
            choices=[
                Choice(
                    message=Message(role="assistant", content=chunks[state["chunk"] - 1]),
                    finish_reason="length",
                )
            ],
            usage=Usage(prompt_tokens=5, completion_tokens=request.max_tokens or 1),
        )

    return FunctionModel(answer, name="m")


async def test_dynasor_stops_once_the_last_probes_agree_without_hedging() -> None:
    model = _cot_model(["step "] * 10, ["9} wait", "7}", "8}", "7}", "7}", "7} the denominator", "7}"])
    program = DynasorCoT(ChatRequest.of("q"), probe_every=4, window=3, max_tokens=1000)
    # continuation usage comes from the text (5 chars -> 1 token): force "length" so it probes
    allocator = Allocator(Budget(), [Lane("m")])
    allocator.add("q", program)
    await run(allocator, {"m": model})
    selection = allocator.selection("q")
    assert selection.answer == "7" and selection.certainty == 1.0
    # probes 4, 5, 6 are the first three in a row that agree ("denominator" is no hedge)
    assert selection.details["probes"][:6] == ["9", "7", "8", "7", "7", "7"]
    assert allocator.usage("q").units["probe"] >= 6


async def test_dynasor_never_stops_on_answers_that_disagree() -> None:
    probes = ["7}", "8}", "7}", "8}", "7}", "8}"]
    model = _cot_model(["step "] * 6, probes)
    program = DynasorCoT(ChatRequest.of("q"), probe_every=1, window=2, max_tokens=6)
    allocator = Allocator(Budget(), [Lane("m")])
    allocator.add("q", program)
    await run(allocator, {"m": model})
    assert program.chain_tokens == 6  # ran to max_tokens
    assert allocator.selection("q").certainty < 1.0


async def test_dynasor_chain_that_ends_by_itself_is_not_probed_further() -> None:
    model = ScriptedModel(["The answer is 5."])
    program = DynasorCoT(ChatRequest.of("q"), probe_every=64)
    allocator = await _run_one(program, model)
    model.assert_all_used()
    assert allocator.selection("q").answer == "5"


# -- banks and replay -------------------------------------------------------------------------


def _bank(tmp_path: Path) -> Path:
    path = tmp_path / "bank.jsonl.gz"
    header = BankHeader(
        model="m",
        endpoint="e",
        temperature=0.8,
        max_tokens=8,
        created="2026-01-01T00:00:00Z",
        generator="test",
    )
    write_header(path, header)
    samples = [
        BankSample(
            answer=str(i % 3), correct=i % 3 == 0, prompt_tokens=10, completion_tokens=2, text=f"= {i % 3}"
        )
        for i in range(12)
    ]
    append_queries(path, [BankQuery(id="a", question="Q a", answer="0", difficulty=1, samples=samples)])
    append_queries(path, [BankQuery(id="b", question="Q b", answer="1", samples=samples[:4])])
    return path


def test_bank_round_trips_and_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = _bank(tmp_path)
    header, queries = read_bank(path)
    assert header.model == "m" and [q.id for q in queries] == ["a", "b"]
    assert queries[0].accuracy == pytest.approx(4 / 12)
    with gzip.open(path, "at") as f:
        f.write('{"id": "c", "quest')
    assert [q.id for q in read_bank(path)[1]] == ["a", "b"]


def test_a_file_that_is_not_a_bank_is_a_one_line_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write(json.dumps({"id": "x"}) + "\n")
    with pytest.raises(UsageError, match="header"):
        read_bank(bad)
    with pytest.raises(UsageError, match="no such file"):
        read_bank(tmp_path / "missing.jsonl.gz")


async def test_replay_draws_without_replacement_in_a_seeded_order(tmp_path: Path) -> None:
    _, queries = read_bank(_bank(tmp_path))
    endpoint = ReplayEndpoint(ReplayBank(queries, seed=3))
    texts = [(await endpoint.complete(ChatRequest.of("Q b"))).text for _ in range(4)]
    assert sorted(texts) == sorted(s.text for s in queries[1].samples)
    again = ReplayEndpoint(ReplayBank(queries, seed=3))
    assert [(await again.complete(ChatRequest.of("Q b"))).text for _ in range(4)] == texts
    with pytest.raises(Exception, match="no samples left"):
        await endpoint.complete(ChatRequest.of("Q b"))
    named = await endpoint.complete(ChatRequest.of("anything", extra={"replay_id": "a"}))
    assert named.usage.prompt_tokens == 10


async def test_the_allocator_runs_unchanged_on_a_replayed_bank(tmp_path: Path) -> None:
    _, queries = read_bank(_bank(tmp_path))

    def allocator(bank: ReplayBank) -> Allocator:
        alloc = Allocator(Budget(tokens=200), [Lane("replay")])
        for q in queries:
            request = ChatRequest.of(q.question, max_tokens=8)
            alloc.add(q.id, SelfConsistency(request, 6, query_id=q.id, extract=bank.extractor(q.id)))
        return alloc

    live_bank = ReplayBank(queries, seed=11)
    live = allocator(live_bank)
    await run(live, {"replay": ReplayEndpoint(live_bank)})
    sync_bank = ReplayBank(queries, seed=11)
    replayed = allocator(sync_bank)
    endpoint = ReplayEndpoint(sync_bank)
    drive(replayed, endpoint.result)
    for qid in ("a", "b"):
        assert live.selection(qid) == replayed.selection(qid)
        assert live.usage(qid) == replayed.usage(qid)
    assert live.budget.spent.tokens <= 200
