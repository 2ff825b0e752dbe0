"""A small least-recently-used cache."""

from collections import OrderedDict


class LRUCache:
    """Holds at most ``capacity`` items; adding one more evicts the least recently used."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items = OrderedDict()

    def get(self, key, default=None):
        """The value for ``key`` (which now counts as recently used), or ``default``."""
        return self._items.get(key, default)

    def put(self, key, value):
        """Store ``value`` under ``key``, evicting the least recently used item if full."""
        if key in self._items:
            self._items.move_to_end(key)
        self._items[key] = value
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self):
        return len(self._items)

    def __contains__(self, key):
        return key in self._items
