from money import format_cents, parse_amount


def test_format_positive():
    assert format_cents(1234) == "12.34"
    assert format_cents(5) == "0.05"


def test_parse_positive():
    assert parse_amount("12.34") == 1234
    assert parse_amount("7") == 700
    assert parse_amount("0.5") == 50
