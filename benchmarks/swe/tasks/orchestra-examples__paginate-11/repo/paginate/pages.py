"""Split a list into pages."""


def page_count(total, per_page):
    """How many pages ``total`` items fill, ``per_page`` to a page."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    return total // per_page


def page(items, number, per_page):
    """Page ``number`` (1-based) of ``items``; IndexError past the last page."""
    if not 1 <= number <= max(1, page_count(len(items), per_page)):
        raise IndexError(f"no page {number}")
    start = (number - 1) * per_page
    return items[start : start + per_page]
