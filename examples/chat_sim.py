"""Chat with a simulated, rate-limited OpenAI-compatible server, through the full endpoint stack.

Starts the simulator on loopback (20 requests per 1-second window, 50 ms to first token), sends
60 requests at once through ``connect`` (limits, retries, metering), and prints what the meter
and the server saw: every request succeeds and no window exceeds the limit.

    python examples/chat_sim.py
"""

from __future__ import annotations

import anyio

from orchestra import ChatRequest
from orchestra.endpoints import EndpointSpec, connect
from orchestra.sim import SimConfig, serve_sim

RPM, WINDOW = 20, 1.0


async def main() -> None:
    async with serve_sim(SimConfig(ttft=0.05, content="echo", rpm=RPM, window_seconds=WINDOW, seed=7)) as sim:
        spec = EndpointSpec(name="sim", base_url=sim.url, model="sim-model", rpm=RPM, window=WINDOW)
        async with connect([spec]) as conn:
            answers: list[str] = []

            async def ask(i: int) -> None:
                reply = await conn.default.complete(ChatRequest.of(f"question {i}", max_tokens=8))
                answers.append(reply.text)

            async with anyio.create_task_group() as tg:
                for i in range(60):
                    tg.start_soon(ask, i)
            snapshot = conn.meter.snapshot()
        print(f"answers: {len(answers)}, e.g. {answers[0]!r}")
        print(f"server: {sim.stats.requests} requests, {sim.stats.rate_limited} answered 429")
        print(f"most requests in any {WINDOW:g}-s window: {sim.stats.max_in_window(WINDOW)} (limit {RPM})")
        print(f"meter: {snapshot['total']}")


if __name__ == "__main__":
    anyio.run(main)
