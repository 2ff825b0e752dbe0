"""The simulator's configuration: one frozen, validated model that the CLI, the in-process app and
the subprocess runner all share (the subprocess receives it as JSON, so nothing is translated twice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ModelLatency", "SimConfig"]


class ModelLatency(BaseModel):
    """The latency of one model, overriding the server-wide ``ttft`` / ``tokens_per_second``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft: float = Field(default=0.0, ge=0.0, description="Seconds to the first token.")
    tokens_per_second: float = Field(default=0.0, ge=0.0, description="Generation speed; 0 = infinite.")


class SimConfig(BaseModel):
    """How the simulated OpenAI-compatible server behaves.

    Fault rates are probabilities per request drawn from one ``random.Random(seed)``; they are
    mutually exclusive outcomes of a single draw, so their sum must not exceed 1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- latency ---------------------------------------------------------------------------------
    ttft: float = Field(default=0.0, ge=0.0, description="Seconds to the first token.")
    tokens_per_second: float = Field(
        default=0.0, ge=0.0, description="Generation speed after the first token; 0 = infinite."
    )
    model_latency: dict[str, ModelLatency] = Field(
        default_factory=dict,
        description="Per-model latency, overriding ttft/tokens_per_second for that model.",
    )

    # -- content ---------------------------------------------------------------------------------
    content: Literal["generate", "echo", "script"] = Field(
        default="generate",
        description="generate: seeded words; echo: the last user message; script: lines of a JSONL file.",
    )
    script: Path | None = Field(
        default=None,
        description='JSONL: {"content": ...} lines are served in turn (cycling); {"match": s, "content": ...} '
        "lines answer the first request whose last user message contains s.",
    )
    completion_tokens: int = Field(
        default=16, ge=0, description="Length of generated content in tokens (words), capped by max_tokens."
    )
    models: list[str] = Field(
        default_factory=lambda: ["sim-model"],
        min_length=1,
        description="Listed by GET /v1/models; completions accept any model name.",
    )

    # -- rate limits -----------------------------------------------------------------------------
    rpm: int | None = Field(default=None, ge=1, description="Requests per window (token bucket capacity).")
    tpm: int | None = Field(
        default=None, ge=1, description="Tokens per window (prompt + max_tokens debited)."
    )
    window_seconds: float = Field(default=60.0, gt=0.0, description="The limit window (60 s like OpenAI).")

    # -- faults ----------------------------------------------------------------------------------
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of 500/502/503 answers.")
    hang_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests held for hang_seconds."
    )
    hang_seconds: float = Field(default=3600.0, ge=0.0, description="How long a hung request is held.")
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of connections closed mid-body.")
    malformed_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of 200s with an invalid body."
    )
    burst_429_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of 429s sent even under the limit (429 bursts)."
    )
    burst_retry_seconds: float = Field(
        default=0.2, ge=0.0, description="retry-after of a burst 429 (a real limit's 429 computes its own)."
    )
    seed: int | None = Field(
        default=None, description="Seed of the fault and content generators; None = random."
    )

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        if self.content == "script" and self.script is None:
            raise ValueError("content='script' needs a script file")
        total = self.fault_rate_total
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"fault rates add up to {total:g}; they are exclusive outcomes and must sum to <= 1"
            )
        return self

    @property
    def fault_rate_total(self) -> float:
        """Probability that a request meets any injected fault."""
        return self.burst_429_rate + self.error_rate + self.hang_rate + self.drop_rate + self.malformed_rate
