"""Replay a sample bank as an ordinary endpoint, so allocation policies run unchanged on it.

:class:`ReplayBank` is the pure part: for each query, a seeded permutation of its samples,
drawn without replacement. :class:`ReplayEndpoint` serves them through the
:class:`~orchestra.endpoints.Endpoint` protocol: the request names its query by
``extra["replay_id"]`` (or else by its last user message, the question), and the answer carries
the sample's text and its recorded usage. A query whose samples are used up raises
:class:`~orchestra.errors.EndpointError` (status 404), as a server would for a missing resource.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence

import anyio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Choice, Message, Usage
from orchestra.errors import EndpointError
from orchestra.ttc.allocator import Dispatch
from orchestra.ttc.answers import extract_answer, normalize_answer
from orchestra.ttc.bank import BankQuery, BankSample
from orchestra.ttc.program import UnitResult

__all__ = ["ReplayBank", "ReplayEndpoint"]


class ReplayBank:
    """Seeded draws without replacement from each query's samples.

    Args:
        queries: the bank's queries.
        seed: the draw order's seed; the same seed gives the same order for each query,
            whatever other queries are drawn in between.
    """

    def __init__(self, queries: Sequence[BankQuery], seed: int = 0) -> None:
        self.queries = {q.id: q for q in queries}
        self.seed = seed
        self._by_question: dict[str, str] = {}
        for q in queries:
            self._by_question.setdefault(q.question, q.id)
        self._orders: dict[str, list[int]] = {}
        self._answers: dict[str, dict[str, str | None]] = {}
        for q in queries:
            recorded = self._answers.setdefault(q.id, {})
            for s in q.samples:
                recorded.setdefault(s.text or (s.answer or ""), s.answer)

    def query_id(self, request: ChatRequest) -> str | None:
        """The bank query a request asks for (``extra["replay_id"]``, else its question)."""
        named = request.extra.get("replay_id")
        if isinstance(named, str):
            return named if named in self.queries else None
        question = next((m.text for m in reversed(request.messages) if m.role == "user"), None)
        return self._by_question.get(question or "")

    def order(self, query_id: str) -> list[int]:
        """The query's sample indices in draw order for this seed (undrawn ones only)."""
        if query_id not in self._orders:
            order = list(range(len(self.queries[query_id].samples)))
            random.Random(f"{self.seed}:{query_id}").shuffle(order)
            order.reverse()  # popped from the end
            self._orders[query_id] = order
        return self._orders[query_id]

    def draw(self, query_id: str) -> BankSample | None:
        """The next sample of the query, or None when its samples are used up."""
        order = self.order(query_id)
        return self.queries[query_id].samples[order.pop()] if order else None

    def extractor(self, query_id: str) -> Callable[[str], str | None]:
        """Text to the answer recorded for it in the query's samples (else :func:`extract_answer`).

        Per query, since two queries' samples may share a text ("" or "7") with different answers.
        """
        recorded = self._answers.get(query_id, {})

        def answer_of(text: str) -> str | None:
            return recorded[text] if text in recorded else extract_answer(text)

        return answer_of

    def correct_answers(self, query_id: str) -> set[str]:
        """Normalised answers that count as correct for the query."""
        q = self.queries[query_id]
        return {s.answer for s in q.samples if s.correct and s.answer is not None} | {
            normalize_answer(q.answer)
        }


class ReplayEndpoint:
    """An :class:`~orchestra.endpoints.Endpoint` that answers from a :class:`ReplayBank`.

    Args:
        bank: the draws to serve.
        name: endpoint name.
        model: the model name reported.
    """

    def __init__(self, bank: ReplayBank, *, name: str = "replay", model: str = "replay") -> None:
        self.bank = bank
        self.name = name
        self.model = model
        self.served = 0

    def respond(self, request: ChatRequest) -> ChatResponse:
        """Answer at once, without awaiting (what :meth:`complete` does).

        Raises:
            EndpointError: (404) the bank has no such question, or its samples are used up.
        """
        query_id = self.bank.query_id(request)
        if query_id is None:
            raise EndpointError("replay: the bank has no such question", status=404, endpoint=self.name)
        sample = self.bank.draw(query_id)
        if sample is None:
            raise EndpointError(
                f"replay: query {query_id} has no samples left", status=404, endpoint=self.name
            )
        self.served += 1
        text = sample.text or (sample.answer or "")
        return ChatResponse(
            id=f"replay-{self.served}",
            model=self.model,
            choices=[Choice(message=Message(role="assistant", content=text), finish_reason="stop")],
            usage=Usage(prompt_tokens=sample.prompt_tokens, completion_tokens=sample.completion_tokens),
            endpoint=self.name,
        )

    def result(self, dispatch: Dispatch) -> UnitResult:
        """The result of a dispatched unit, answered at once (for :func:`~orchestra.ttc.runner.drive`)."""
        # Built directly, not through a ChatResponse: the comparison replays millions of samples.
        assert dispatch.unit.request is not None
        query_id = self.bank.query_id(dispatch.unit.request)
        sample = self.bank.draw(query_id) if query_id is not None else None
        if sample is None:
            return UnitResult(
                dispatch.unit, error=f"replay: no sample left for {query_id or 'an unknown question'}"
            )
        self.served += 1
        return UnitResult(
            dispatch.unit,
            text=sample.text or (sample.answer or ""),
            prompt_tokens=sample.prompt_tokens,
            completion_tokens=sample.completion_tokens,
            finish_reason="stop",
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await anyio.lowlevel.checkpoint()
        return self.respond(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = self.respond(request)
        yield ChatChunk(delta=response.text, finish_reason="stop")
        yield ChatChunk(usage=response.usage)

    async def aclose(self) -> None:
        return None
