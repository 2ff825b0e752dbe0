from intervals import merge


def test_overlapping():
    assert merge([(2, 4), (1, 3)]) == [(1, 4)]


def test_disjoint():
    assert merge([(5, 6), (1, 2)]) == [(1, 2), (5, 6)]


def test_empty():
    assert merge([]) == []
