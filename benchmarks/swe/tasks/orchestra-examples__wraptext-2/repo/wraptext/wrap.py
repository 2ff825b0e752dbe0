"""Greedy word wrapping."""


def wrap(text, width):
    """Split ``text`` into lines of at most ``width`` characters, breaking at spaces."""
    if width < 1:
        raise ValueError("width must be at least 1")
    lines = []
    text = text.strip()
    while text:
        if len(text) <= width:
            lines.append(text)
            break
        cut = text.rfind(" ", 0, width + 1)
        if cut == -1:
            # no space in reach: keep looking at the same text
            continue
        lines.append(text[:cut])
        text = text[cut + 1 :].lstrip()
    return lines
