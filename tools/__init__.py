"""tools package of orchestra."""
