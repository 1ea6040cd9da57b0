"""The long and wide tables of SPEC 3.1-3.3, built from Arrow tables of long rows.

``long_table`` gives the canonical long table; ``wide_table`` pivots a chunk of complete
entity blocks into one row per annotation, so nothing of the long layout is lost except the
non-location confidences (the property tests check it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from dashboard.query.options import LOCATION, LONG_COLUMNS, OBJECT_CLASS, WIDE_FIXED_COLUMNS

NO_CONFIDENCE = -1.0
MULTI_VALUE_SEPARATOR = " | "

_TYPES = {
    "file_id": pa.int64(),
    "assessment_id": pa.int64(),
    "annotation_id": pa.int64(),
    "frame": pa.int64(),
    "confidence": pa.float64(),
}

LONG_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in LONG_COLUMNS])


def wide_schema(attribute_names: Sequence[str]) -> pa.Schema:
    fixed = [(name, _TYPES.get(name, pa.string())) for name in WIDE_FIXED_COLUMNS]
    return pa.schema(fixed + [(name, pa.string()) for name in attribute_names])


def long_table(rows: pa.Table | pa.RecordBatch) -> pa.Table:
    """Long rows as read from SQL, with sentinels turned into nulls and canonical types."""
    if isinstance(rows, pa.RecordBatch):
        rows = pa.Table.from_batches([rows])
    columns = []
    for field in LONG_SCHEMA:
        column = rows.column(field.name)
        if column.type != field.type:
            column = column.cast(field.type)
        if field.name == "confidence":
            column = pc.if_else(pc.equal(column, NO_CONFIDENCE), None, column)
        elif field.name == "workflow_order":
            column = pc.if_else(pc.equal(column, ""), None, column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=LONG_SCHEMA)


def _joined(rows: pa.Table, keys: list[str]) -> pa.Table:
    """Values grouped by keys + attribute, joined with ' | ' in long-row order."""
    grouped = rows.group_by([*keys, "attribute"], use_threads=False).aggregate([("value", "list")])
    return grouped.append_column(
        "joined", pc.binary_join(grouped.column("value_list"), MULTI_VALUE_SEPARATOR)
    ).drop_columns(["value_list"])


def _attribute_column(
    base: pa.Table, values: pa.Table, keys: list[str], attribute: str
) -> pa.ChunkedArray:
    """One attribute's joined values aligned to the rows of ``base`` (null where none)."""
    picked = values.filter(pc.equal(values.column("attribute"), attribute)).select(
        [*keys, "joined"]
    )
    if picked.num_rows == 0:
        return pa.chunked_array([pa.nulls(base.num_rows, pa.string())])
    joined = base.select(["_row", *keys]).join(picked, keys=keys, join_type="left outer")
    joined = joined.sort_by("_row")
    return joined.column("joined")


def wide_table(long: pa.Table, attribute_names: Sequence[str]) -> pa.Table:
    """Pivot complete entity blocks of long rows to one row per annotation (SPEC 3.2)."""
    long = long.append_column("_row", pa.array(range(long.num_rows), pa.int64()))
    attribute = long.column("attribute")
    has_annotation = pc.is_valid(long.column("annotation_id"))
    ident = list(LONG_COLUMNS[: LONG_COLUMNS.index("frame") + 1])

    locations = long.filter(pc.equal(attribute, LOCATION))
    base = (
        locations.select([*ident, "_row"])
        .append_column("location", locations.column("value"))
        .append_column("confidence", locations.column("confidence"))
    )
    classes = long.filter(pc.equal(attribute, OBJECT_CLASS)).select(["annotation_id", "value"])
    base = base.join(
        classes.rename_columns(["annotation_id", "object_class"]), "annotation_id"
    ).sort_by("_row")

    is_value = pc.and_(pc.not_equal(attribute, LOCATION), pc.not_equal(attribute, OBJECT_CLASS))
    annotation_values = _joined(long.filter(pc.and_(is_value, has_annotation)), ["annotation_id"])
    entity_rows = long.filter(pc.and_(is_value, pc.invert(has_annotation)))
    entity_keys = ["assessment_id", "entity_id"]
    entity_values = _joined(entity_rows, entity_keys)

    # Entities with values but no annotation in that assessment get one row of their own.
    if entity_rows.num_rows:
        firsts = entity_rows.group_by(entity_keys, use_threads=False).aggregate([("_row", "min")])
        annotated = base.select(entity_keys).group_by(entity_keys).aggregate([])
        bare = firsts.join(annotated, entity_keys, join_type="left anti")
        if bare.num_rows:
            bare_rows = long.take(bare.column("_row_min")).select([*ident, "_row"])
            bare_rows = bare_rows.set_column(
                bare_rows.schema.get_field_index("frame"),
                "frame",
                pa.nulls(bare.num_rows, pa.int64()),
            )
            bare_rows = bare_rows.append_column("location", pa.nulls(bare.num_rows, pa.string()))
            bare_rows = bare_rows.append_column(
                "confidence", pa.nulls(bare.num_rows, pa.float64())
            ).append_column("object_class", pa.nulls(bare.num_rows, pa.string()))
            base = pa.concat_tables([base, bare_rows.select(base.column_names)]).sort_by("_row")

    columns = {name: base.column(name) for name in WIDE_FIXED_COLUMNS}
    for name in attribute_names:
        on_annotation = _attribute_column(base, annotation_values, ["annotation_id"], name)
        on_entity = _attribute_column(base, entity_values, entity_keys, name)
        both = pc.binary_join_element_wise(on_annotation, on_entity, MULTI_VALUE_SEPARATOR)
        columns[name] = pc.coalesce(both, on_annotation, on_entity)
    return pa.table(columns, schema=wide_schema(attribute_names))


_TRIGGER = r"^'*[=+\-@\t\r]"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula (OWASP CSV injection).

    Cells that already start with ``'`` before a trigger get one more, so the long-CSV
    importer can strip exactly one and every value round-trips.
    """
    for index, field in enumerate(table.schema):
        if field.type != pa.string():
            continue
        column = table.column(index)
        trigger = pc.match_substring_regex(column, _TRIGGER)
        if not pc.any(trigger).as_py():
            continue  # most columns: no cell starts with a trigger, no number test needed
        risky = pc.and_kleene(trigger, pc.invert(pc.match_substring_regex(column, _NUMBER)))
        if pc.any(risky).as_py():
            escaped = pc.binary_join_element_wise("'", column, "")
            table = table.set_column(index, field, pc.if_else(risky, escaped, column))
    return table


def unescape_spreadsheet(text: str) -> str:
    """The inverse of ``spreadsheet_safe`` for one cell (used by the long-CSV importer)."""
    if re.match(r"^'+[=+\-@\t\r]", text) and not re.match(_NUMBER, text[1:]):
        return text[1:]
    return text
