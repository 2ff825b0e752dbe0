from semver.version import compare, newest, parse

__all__ = ["compare", "newest", "parse"]
