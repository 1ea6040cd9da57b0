"""The Arrow schemas of the long and wide layouts (SPEC 3.1, 3.2): column names and types."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from dashboard.spec.options import LONG_COLUMNS, WIDE_FIXED_COLUMNS

_TYPES = {
    "file_id": pa.int64(),
    "assessment_id": pa.int64(),
    "annotation_id": pa.int64(),
    "frame": pa.int64(),
    "confidence": pa.float64(),
}

LONG_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in LONG_COLUMNS])


def wide_schema(attribute_names: Sequence[str]) -> pa.Schema:
    """The wide layout's columns: the fixed ones, then one text column per attribute."""
    fixed = [(name, _TYPES.get(name, pa.string())) for name in WIDE_FIXED_COLUMNS]
    return pa.schema(fixed + [(name, pa.string()) for name in attribute_names])
