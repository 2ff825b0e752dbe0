import pytest

from paginate import page, page_count


def test_exact_pages():
    assert page_count(9, 3) == 3
    assert page(list(range(9)), 2, 3) == [3, 4, 5]


def test_past_the_end():
    with pytest.raises(IndexError):
        page(list(range(9)), 4, 3)
