"""Attribute values: each type's one canonical text, checked against the taxonomy."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from dashboard.errors import InvalidValueError
from dashboard.store.models import Attribute, ValueType

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def canonical_value(attribute: Attribute, raw: object) -> str:
    """The stored and exported text of ``raw`` for ``attribute``; raises InvalidValueError."""
    kind = ValueType(attribute.value_type)
    where = f"attribute {attribute.name!r} ({kind.value})"
    if raw is None:
        raise InvalidValueError(f"{where}: a value is required")
    if kind is ValueType.boolean:
        if isinstance(raw, bool):
            return "true" if raw else "false"
        text = str(raw).strip().lower()
        if text in _TRUE:
            return "true"
        if text in _FALSE:
            return "false"
        raise InvalidValueError(f"{where}: {raw!r} is not true or false")
    if kind is ValueType.integer:
        if isinstance(raw, bool):
            raise InvalidValueError(f"{where}: {raw!r} is not an integer")
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise InvalidValueError(f"{where}: {raw!r} is not an integer") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise InvalidValueError(f"{where}: {raw!r} is not an integer")
        return _plain(number)
    if kind is ValueType.decimal:
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise InvalidValueError(f"{where}: {raw!r} is not a decimal number") from None
        if not number.is_finite():
            raise InvalidValueError(f"{where}: {raw!r} is not a finite number")
        return _plain(number)
    if kind is ValueType.enum:
        text = str(raw)
        if text not in (attribute.options or []):
            raise InvalidValueError(
                f"{where}: {raw!r} is not one of {', '.join(attribute.options or [])}"
            )
        return text
    return str(raw)


def _plain(number: Decimal) -> str:
    """Exact positional text: no exponent, no trailing zeros, no ``-0``.

    Not ``Decimal.normalize``, which rounds to the context's 28 digits.
    """
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
