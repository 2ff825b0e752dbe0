from csvline import split_line


def test_plain():
    assert split_line("a,b,c") == ["a", "b", "c"]


def test_strips_spaces():
    assert split_line(" a , b ") == ["a", "b"]


def test_quoted_without_comma():
    assert split_line('"a",b') == ["a", "b"]
