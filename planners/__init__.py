"""planners package of orchestra."""
