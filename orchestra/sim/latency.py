"""The latency model: time to first token, then a steady tokens-per-second, per model.

This is the shape of a real decoding server (prefill, then one token per decode step), and the
shape AsyncLM and LLMCompiler measure latency against. Choices of ``n > 1`` decode in parallel,
as in vLLM and llama.cpp, so a request lasts as long as its longest choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestra.sim.config import SimConfig

__all__ = ["LatencyModel", "Pace"]


@dataclass(frozen=True, slots=True)
class Pace:
    """When the tokens of one response are ready.

    Args:
        ttft: seconds from the request to its first token.
        step: seconds between two further tokens (0 = infinitely fast).
    """

    ttft: float
    step: float

    def token_time(self, k: int) -> float:
        """Seconds from the request until token ``k`` (0-based) is ready."""
        return self.ttft + k * self.step

    def total(self, tokens: int) -> float:
        """Seconds until a response of ``tokens`` tokens is complete."""
        return self.token_time(max(0, tokens - 1))


class LatencyModel:
    """The pace of each model: ``SimConfig.model_latency`` where given, else the server default."""

    def __init__(self, config: SimConfig) -> None:
        self._default = _pace(config.ttft, config.tokens_per_second)
        self._per_model = {
            name: _pace(lat.ttft, lat.tokens_per_second) for name, lat in config.model_latency.items()
        }

    def pace(self, model: str) -> Pace:
        """The pace of ``model``."""
        return self._per_model.get(model, self._default)


def _pace(ttft: float, tokens_per_second: float) -> Pace:
    return Pace(ttft=ttft, step=1.0 / tokens_per_second if tokens_per_second > 0 else 0.0)
