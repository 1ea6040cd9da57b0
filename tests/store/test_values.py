"""Attribute values: one canonical text per type, and clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.errors import InvalidValueError
from dashboard.store.models import Attribute, ValueType
from dashboard.store.values import canonical_value


def attribute(value_type: str, options: list[str] | None = None) -> Attribute:
    return Attribute(name="a", value_type=ValueType(value_type), options=options, position=0)


BOOLEAN = attribute("boolean")
INTEGER = attribute("integer")
DECIMAL = attribute("decimal")
STRING = attribute("string")
ENUM = attribute("enum", ["low", "high", "Ünïcode"])


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (True, "true"),
        (False, "false"),
        ("yes", "true"),
        (" TRUE ", "true"),
        ("1", "true"),
        (1, "true"),
        ("no", "false"),
        ("False", "false"),
        (0, "false"),
    ],
)
def test_boolean(raw, text):
    assert canonical_value(BOOLEAN, raw) == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("007", "7"),
        (" 12 ", "12"),
        ("+5", "5"),
        ("-0", "0"),
        ("7.0", "7"),
        ("1e3", "1000"),
        (42, "42"),
        (-3, "-3"),
        ("123456789012345678901234567890123", "123456789012345678901234567890123"),
    ],
)
def test_integer(raw, text):
    assert canonical_value(INTEGER, raw) == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("2.50", "2.5"),
        ("2.0", "2"),
        ("1e5", "100000"),
        ("1.000E+1", "10"),
        ("-0.00", "0"),
        ("0E-10", "0"),
        (".5", "0.5"),
        ("-.50", "-0.5"),
        ("1e-7", "0.0000001"),
        (0.1, "0.1"),
        (3, "3"),
        ("1.00000000000000000000000000001", "1.00000000000000000000000000001"),
        ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ],
)
def test_decimal(raw, text):
    assert canonical_value(DECIMAL, raw) == text


@pytest.mark.parametrize("raw", ["  spaced  ", "Straße 12 ✓", "=cmd|' /C calc'!A0", "", "007"])
def test_string_is_kept_verbatim(raw):
    assert canonical_value(STRING, raw) == raw


def test_enum_accepts_exactly_its_options():
    assert canonical_value(ENUM, "high") == "high"
    assert canonical_value(ENUM, "Ünïcode") == "Ünïcode"


@pytest.mark.parametrize(
    ("attr", "raw", "message"),
    [
        (BOOLEAN, "maybe", "attribute 'a' (boolean): 'maybe' is not true or false"),
        (BOOLEAN, 2, "attribute 'a' (boolean): 2 is not true or false"),
        (INTEGER, "1.5", "attribute 'a' (integer): '1.5' is not an integer"),
        (INTEGER, "seven", "attribute 'a' (integer): 'seven' is not an integer"),
        (INTEGER, True, "attribute 'a' (integer): True is not an integer"),
        (INTEGER, "inf", "attribute 'a' (integer): 'inf' is not an integer"),
        (INTEGER, "NaN", "attribute 'a' (integer): 'NaN' is not an integer"),
        (INTEGER, "sNaN", "attribute 'a' (integer): 'sNaN' is not an integer"),
        (DECIMAL, "1,5", "attribute 'a' (decimal): '1,5' is not a decimal number"),
        (DECIMAL, "nan", "attribute 'a' (decimal): 'nan' is not a finite number"),
        (DECIMAL, "-Infinity", "attribute 'a' (decimal): '-Infinity' is not a finite number"),
        (DECIMAL, "sNaN", "attribute 'a' (decimal): 'sNaN' is not a finite number"),
        (ENUM, "medium", "attribute 'a' (enum): 'medium' is not one of low, high, Ünïcode"),
        (ENUM, "LOW", "attribute 'a' (enum): 'LOW' is not one of low, high, Ünïcode"),
        (STRING, None, "attribute 'a' (string): a value is required"),
        (DECIMAL, None, "attribute 'a' (decimal): a value is required"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_the_attribute(attr, raw, message):
    with pytest.raises(InvalidValueError) as caught:
        canonical_value(attr, raw)
    assert str(caught.value) == message


integers = st.integers(min_value=-(10**40), max_value=10**40)
decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30)


@given(st.one_of(integers.map(str), integers.map(lambda n: f"{n:+06d}"), integers))
def test_integer_is_idempotent_and_exact(raw):
    text = canonical_value(INTEGER, raw)
    assert canonical_value(INTEGER, text) == text
    assert int(text) == int(raw)


@given(st.one_of(decimals.map(str), decimals, integers.map(lambda n: f"{n}.000")))
def test_decimal_is_idempotent_and_exact(raw):
    text = canonical_value(DECIMAL, raw)
    assert canonical_value(DECIMAL, text) == text
    assert Decimal(text) == Decimal(str(raw))
    assert "e" not in text.lower()
    assert text == "0" or not text.endswith(("0", ".")) or "." not in text


@given(st.one_of(st.booleans(), st.sampled_from(["true", "1", "yes", "false", "0", "no", "YES"])))
def test_boolean_is_idempotent(raw):
    text = canonical_value(BOOLEAN, raw)
    assert text in {"true", "false"}
    assert canonical_value(BOOLEAN, text) == text


@given(st.text())
def test_string_is_idempotent_and_verbatim(raw):
    assert canonical_value(STRING, raw) == raw
    assert canonical_value(STRING, canonical_value(STRING, raw)) == raw


@given(st.sampled_from(["low", "high", "Ünïcode"]))
def test_enum_is_idempotent(raw):
    assert canonical_value(ENUM, canonical_value(ENUM, raw)) == raw
