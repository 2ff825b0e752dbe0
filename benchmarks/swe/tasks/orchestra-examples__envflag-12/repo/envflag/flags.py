"""Boolean switches from environment variables."""

import os


def flag(name, default=False, environ=None):
    """The boolean value of environment variable ``name`` (``default`` when unset)."""
    env = os.environ if environ is None else environ
    if name not in env:
        return default
    return bool(env[name])
