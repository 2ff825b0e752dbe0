from envflag.flags import flag

__all__ = ["flag"]
