"""Split one line of comma-separated values."""


def split_line(line):
    """``'a,b,c'`` -> ``['a', 'b', 'c']``. Fields may be wrapped in double quotes."""
    fields = []
    for raw in line.split(","):
        field = raw.strip()
        if len(field) >= 2 and field[0] == field[-1] == '"':
            field = field[1:-1]
        fields.append(field)
    return fields
