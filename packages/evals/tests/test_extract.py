"""extract_answer on hand-written outputs in the shapes small models produce."""

from __future__ import annotations

import pytest

from reflectlab.evals.extract import extract_answer, number_key, numbers_in, parse_number, same_number

CASES: list[tuple[str, int | float | None]] = [
    ("The answer is 42.", 42),
    ("= 1,234", 1234),
    ("-7", -7),
    ("\\boxed{12}", 12),
    ("**85**", 85),
    ("42.0", 42),
    ("Final answer: 9", 9),
    ("Final answer: 9!", 9),
    ("So the result is 3.5.", 3.5),
    ("The answer is 37 + 48 = 85.", 85),
    ("The answer is 12. Let me check: 3 * 5 = 15", 12),
    ("37 + 48 = 85", 85),
    ("x = -7", -7),
    ("9 - 7 = 2", 2),
    ("9-7", 7),
    ("It is (\u22127).", -7),
    ("The total is $1,234.56.", 1234.56),
    ("Answer:\n\n85", 85),
    ("**Answer:** 85", 85),
    ("The answer is **85**. To check, 85 - 48 = 37.", 85),
    ("**85** is the sum. Check: 85 - 48 = 37.", 85),
    ("\\boxed{\\frac{1}{2}}", 0.5),
    ("\\boxed{\\dfrac{-6}{3}}", -2),
    ("\\boxed{x = 5}", 5),
    ("I think it's 12, but the final answer is 13.", 13),
    ("The answer is five.", 5),
    ("The answer is negative twelve", -12),
    ("#### 72", 72),
    ("Step 1: 7 + 8 = 15. Step 2: 30 + 40 = 70. Total: 85", 85),
    ("The answers are 3 and 4; answer: 7", 7),
    ("answer is -12", -12),
    ("12,345,678", 12345678),
    ("It equals 100%.", 100),
    ("The final answer is $\\boxed{1,024}$.", 1024),
    ("The answer is 7. \\boxed{8}", 8),
    ("Answer = 0", 0),
    ("I need to answer this: 2 + 2 = 4", 4),
    ("The answer would be 64, I believe. Or 65?", 64),
    ("Final Answer\n**64**", 64),
    ("THE ANSWER IS 3120", 3120),
    ("1, 2, 3", 3),
    ("no numbers here", None),
    ("", None),
    ("The answer is unclear.", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_answer(text: str, expected: int | float | None) -> None:
    got = extract_answer(text)
    if expected is None:
        assert got is None
    else:
        assert got is not None and same_number(got, expected), (text, got)


def test_integral_decimals_become_ints_and_others_stay_floats() -> None:
    assert isinstance(extract_answer("42.0"), int)
    assert isinstance(extract_answer("42.000"), int)
    assert extract_answer("2.50") == 2.5 and isinstance(extract_answer("2.50"), float)
    assert parse_number("123456789012345678901.0") == 123456789012345678901  # no float round-trip


def test_signs_touch_the_digits_and_follow_no_operand() -> None:
    assert [v for _, _, v in numbers_in("5 - 3, 5-3, -3, x=-3, (-3), a-3, - 3")] == [5, 3, 5, 3, -3, -3, -3, 3, 3]


def test_number_keys_group_equal_answers() -> None:
    assert number_key(42.0) == number_key(42)
    assert number_key(0.1 + 0.2) == number_key(0.3)
    assert same_number(2, 2.0000000001) and not same_number(2, 3)
