from semver import compare, newest, parse


def test_parse_drops_v():
    assert len(parse("v1.2.3")) == 3


def test_compare_simple():
    assert compare("1.2.0", "1.3.0") == -1
    assert compare("2.0.0", "2.0.0") == 0


def test_newest_simple():
    assert newest(["0.1.0", "0.3.0", "0.2.0"]) == "0.3.0"
