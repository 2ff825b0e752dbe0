from stats.describe import mean, median, mode

__all__ = ["mean", "median", "mode"]
