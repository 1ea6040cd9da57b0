"""The wide table of SPEC 3.2 and spreadsheet safety (SPEC 3.3), from Arrow tables of long rows.

``wide_table`` pivots a chunk of complete entity blocks (the query's long table) into one row
per annotation, so nothing of the long layout is lost except the
non-location confidences (the property tests check it).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from dashboard.spec.options import (
    IDENTIFYING_COLUMNS,
    LOCATION,
    OBJECT_CLASS,
)
from dashboard.spec.schemas import wide_schema
from dashboard.spec.spreadsheet import NUMBER, TRIGGER, safe_text

MULTI_VALUE_SEPARATOR = " | "


def wide_table(long: pa.Table, attribute_names: Sequence[str]) -> pa.Table:
    """Pivot complete entity blocks of long rows to one row per annotation (SPEC 3.2).

    By hash lookups, without joins or sorts: the location rows give the annotation rows in
    order; each attribute's values, joined with ' | ' per annotation (or per entity for
    entity-level values), are looked up by key. An entity with entity-level values but no
    annotation in that assessment gets one row of its own, at the place of its first value;
    so does an assessment without annotations and values (its one long row).
    """
    ident = list(IDENTIFYING_COLUMNS)
    attribute, value = long.column("attribute"), long.column("value")
    annotation_id = long.column("annotation_id")
    is_location = pc.equal(attribute, LOCATION)
    is_class = pc.equal(attribute, OBJECT_CLASS)
    is_value = pc.invert(pc.or_(is_location, is_class))
    on_annotation = pc.and_(is_value, pc.is_valid(annotation_id))
    on_entity = pc.and_(is_value, pc.is_null(annotation_id))
    # (assessment, entity) as one int64: assessment id * 2^32 + the entity's index in the chunk
    entity_index = pc.index_in(long.column("entity_id"), value_set=pc.unique(long["entity_id"]))
    entity_key = pc.add(
        pc.multiply(long.column("assessment_id"), 1 << 32), pc.cast(entity_index, pa.int64())
    )

    locations = long.filter(is_location)
    classes = long.filter(is_class)
    columns = {name: locations.column(name) for name in ident}
    columns["object_class"] = pc.take(
        classes.column("value"),
        pc.index_in(locations.column("annotation_id"), value_set=classes["annotation_id"]),
    )
    columns["location"] = locations.column("value")
    columns["confidence"] = locations.column("confidence")
    row_annotation = locations.column("annotation_id")
    row_entity = pc.filter(entity_key, is_location)

    annotation_values = _joined(
        pc.filter(annotation_id, on_annotation),
        pc.filter(attribute, on_annotation),
        pc.filter(value, on_annotation),
    )
    has_entity_values = pc.any(on_entity).as_py()
    extra_rows = []  # long rows that give a wide row of their own, in long-row order
    if has_entity_values:
        entity_keys = pc.filter(entity_key, on_entity)
        entity_values = _joined(
            entity_keys, pc.filter(attribute, on_entity), pc.filter(value, on_entity)
        )
        bare = pc.invert(pc.is_in(entity_keys, value_set=row_entity))
        if pc.any(bare).as_py():
            bare_keys = pc.filter(entity_keys, bare)
            first = pc.index_in(pc.unique(bare_keys), value_set=bare_keys)
            with_values = pc.filter(pc.indices_nonzero(on_entity), bare)
            extra_rows.append(_plain(pc.take(with_values, first)))
    is_empty = pc.is_null(attribute)  # an assessment without annotations and values
    if pc.any(is_empty).as_py():
        extra_rows.append(_plain(pc.indices_nonzero(is_empty)))
    if extra_rows:
        rows = pa.concat_arrays(extra_rows) if len(extra_rows) > 1 else extra_rows[0]
        taken = long.take(rows)
        count = taken.num_rows
        extra = {name: taken.column(name) for name in ident}
        extra["frame"] = pa.nulls(count, pa.int64())
        extra["object_class"] = pa.nulls(count, pa.string())
        extra["location"] = pa.nulls(count, pa.string())
        extra["confidence"] = pa.nulls(count, pa.float64())
        places = pa.concat_arrays([_plain(pc.indices_nonzero(is_location)), rows])
        order = pc.sort_indices(places)
        columns = {
            name: pc.take(pa.concat_arrays([_plain(column), _plain(extra[name])]), order)
            for name, column in columns.items()
        }
        row_annotation = columns["annotation_id"]
        row_entity = pc.take(
            pa.concat_arrays([_plain(row_entity), _plain(pc.take(entity_key, rows))]), order
        )
    for name in attribute_names:
        from_annotation = _aligned(row_annotation, *annotation_values, name)
        if has_entity_values:
            from_entity = _aligned(row_entity, *entity_values, name)
            both = pc.binary_join_element_wise(from_annotation, from_entity, MULTI_VALUE_SEPARATOR)
            columns[name] = pc.coalesce(both, from_annotation, from_entity)
        else:
            columns[name] = from_annotation
    return pa.table(columns, schema=wide_schema(attribute_names))


def _joined(keys, attributes, values) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(key, attribute) -> its values joined with ' | ', in long-row order."""
    table = pa.table({"key": keys, "attribute": attributes, "value": values})
    grouped = table.group_by(["key", "attribute"], use_threads=False).aggregate([("value", "list")])
    joined = pc.binary_join(grouped.column("value_list"), MULTI_VALUE_SEPARATOR)
    return grouped.column("key"), grouped.column("attribute"), joined


def _aligned(row_keys, keys, attributes, joined, name: str):
    """One attribute's joined values aligned to ``row_keys`` (null where it has none)."""
    selected = pc.equal(attributes, name)
    picked = pc.filter(keys, selected)
    if len(picked) == 0:
        return pa.nulls(len(row_keys), pa.string())
    return pc.take(pc.filter(joined, selected), pc.index_in(row_keys, value_set=picked))


def _plain(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula (OWASP CSV injection).

    Cells that already start with ``'`` before a trigger get one more, so the long-CSV
    importer can strip exactly one and every value round-trips.
    """
    for index, field in enumerate(table.schema):
        if field.type != pa.string():
            continue
        column = table.column(index)
        trigger = pc.match_substring_regex(column, TRIGGER)
        if not pc.any(trigger).as_py():
            continue  # most columns: no cell starts with a trigger, no number test needed
        risky = pc.and_kleene(trigger, pc.invert(pc.match_substring_regex(column, NUMBER)))
        if pc.any(risky).as_py():
            escaped = pc.binary_join_element_wise("'", column, "")
            table = table.set_column(index, field, pc.if_else(risky, escaped, column))
    return table


def spreadsheet_safe_schema(schema: pa.Schema) -> pa.Schema:
    """The header cells by the same rule: attribute names come from data too."""
    return pa.schema([field.with_name(safe_text(field.name)) for field in schema])
