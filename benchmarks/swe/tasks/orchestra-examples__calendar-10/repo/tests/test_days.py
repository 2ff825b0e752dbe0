from gregorian import days_in_month, is_leap


def test_ordinary_years():
    assert is_leap(2024)
    assert not is_leap(2023)


def test_month_lengths():
    assert days_in_month(2023, 1) == 31
    assert days_in_month(2024, 2) == 29
    assert days_in_month(2023, 2) == 28
