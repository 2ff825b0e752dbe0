from envflag import flag


def test_unset_uses_default():
    assert flag("X", environ={}) is False
    assert flag("X", default=True, environ={}) is True


def test_one_is_true():
    assert flag("X", environ={"X": "1"}) is True
