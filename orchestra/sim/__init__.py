"""The simulated OpenAI-compatible server: latency model, generated/echoed/scripted content, RPM/TPM
limits answering 429 as OpenAI does, and fault injection (5xx, hangs, drops, malformed bodies).

Run it in-process (``httpx2.ASGITransport(app=create_app(config))``), over loopback in the current
event loop (``async with serve_sim(config) as sim``), or as a subprocess (``with SimProcess(config)``),
or from the shell (``orchestra sim serve`` / ``python -m orchestra.sim``).
"""

from __future__ import annotations

from orchestra.sim.app import SimulatedDrop, Simulator, create_app
from orchestra.sim.config import ModelLatency, SimConfig
from orchestra.sim.content import Reply, load_script
from orchestra.sim.faults import Fault, FaultInjector
from orchestra.sim.latency import LatencyModel, Pace
from orchestra.sim.process import SimProcess
from orchestra.sim.ratelimit import LimitDecision, SimRateLimiter, TokenBucket, format_duration
from orchestra.sim.server import SimHandle, serve_sim
from orchestra.sim.stats import ModelStats, SimStats
from orchestra.sim.wire import count_tokens

__all__ = [
    "Fault",
    "FaultInjector",
    "LatencyModel",
    "LimitDecision",
    "ModelLatency",
    "ModelStats",
    "Pace",
    "Reply",
    "SimConfig",
    "SimHandle",
    "SimProcess",
    "SimRateLimiter",
    "SimStats",
    "SimulatedDrop",
    "Simulator",
    "TokenBucket",
    "count_tokens",
    "create_app",
    "format_duration",
    "load_script",
    "serve_sim",
]
