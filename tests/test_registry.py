import pytest

from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import BACKBONES, PROBES, TASKS, Registry


def test_builtin_names_are_registered() -> None:
    assert {"rotation", "transpose"} <= set(TASKS.names())
    assert "mnist_net" in BACKBONES.names()
    assert {"seed-fc", "linear"} <= set(PROBES.names())


def test_unknown_name_names_the_closest_and_lists_known() -> None:
    with pytest.raises(UserError) as e:
        TASKS.get("rotaton")
    msg = str(e.value)
    assert "unknown task 'rotaton'" in msg and "did you mean 'rotation'" in msg and "transpose" in msg


def test_double_registration_of_a_different_object_fails() -> None:
    reg = Registry("thing")
    reg.register("a")(int)
    with pytest.raises(ValueError):
        reg.register("a")(float)


def test_summary_is_first_docstring_line() -> None:
    assert TASKS.summary("rotation").startswith("4-way rotation")
