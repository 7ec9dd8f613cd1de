"""Numbers from clients are read from ASCII digits only (issue 21, item 8)."""

import pytest

from webapp.numbers import ascii_integer, ascii_whole_number


@pytest.mark.parametrize("text", ["²", "٣", "１２", "1_000", "", " 1", "+1", "-1", "1.0", "0x1", None, 12])
def test_whole_numbers_refuse_anything_but_ascii_digits(text):
    assert ascii_whole_number(text, max_digits=9) is None


def test_whole_numbers_read_ascii_digits_up_to_the_bound():
    assert ascii_whole_number("0042", max_digits=9) == 42
    assert ascii_whole_number("1" * 10, max_digits=9) is None


@pytest.mark.parametrize(("text", "number"), [(" 7 ", 7), ("-5", -5), ("+3", 3), ("٣", None), ("1²", None),
                                              ("1_0", None), ("--1", None), ("", None)])
def test_integers_allow_a_sign_and_blanks_but_only_ascii_digits(text, number):
    assert ascii_integer(text) == number
