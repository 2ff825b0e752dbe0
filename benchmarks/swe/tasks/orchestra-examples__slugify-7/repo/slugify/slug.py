"""URL slugs from titles."""


def slugify(title):
    """Lower-case ``title`` and replace everything but letters and digits by dashes."""
    out = []
    for ch in title.lower():
        out.append(ch if ch.isalnum() else "-")
    return "".join(out)
