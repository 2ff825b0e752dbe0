"""Shared fixtures. Add yours below; keep each fixture's scope as narrow as its cost allows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestra.endpoints.local import LocalModel
from orchestra.endpoints.openai import OpenAIEndpoint


@pytest.fixture(scope="session")
async def local_model() -> AsyncIterator[LocalModel]:
    """The embedded model (SmolLM2-135M on llama.cpp), started once for the whole session.

    The first run on a machine downloads the GGUF into the user's cache (~3 s); later starts take
    about a second. Tests using it are marked ``@pytest.mark.local_model``.
    """
    async with LocalModel() as model:
        yield model


@pytest.fixture(scope="session")
async def local_endpoint(local_model: LocalModel) -> AsyncIterator[OpenAIEndpoint]:
    """An :class:`OpenAIEndpoint` named ``local`` on the session's embedded model."""
    endpoint = local_model.endpoint()
    try:
        yield endpoint
    finally:
        await endpoint.aclose()
