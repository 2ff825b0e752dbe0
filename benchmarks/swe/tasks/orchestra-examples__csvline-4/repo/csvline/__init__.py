from csvline.split import split_line

__all__ = ["split_line"]
