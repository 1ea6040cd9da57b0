"""A workflow's taxonomy from a small YAML or JSON file, and one inferred from a COCO file.

The file (``assess-export create-workflow NAME taxonomy.yaml``)::

    description: Harbour inspection, quay cameras     # optional
    object_classes:                                   # in the order exports list them
      - vessel                                        # a colour from the palette
      - {name: buoy, colour: "#ff8800"}
    attributes:                                       # optional
      - {name: severity, type: enum, options: [low, medium, high]}
      - {name: length_m, type: decimal}
      - {name: occluded, type: boolean}
    orders: ["8492192", "8492193"]                    # optional: workflow orders

Attribute types: string, integer, decimal, boolean, enum (with ``options``). Every mistake is
an error naming the file and the entry; nothing is created then.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.errors import ImportRecordError
from dashboard.store.models import ValueType

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class TaxonomySpec:
    """What ``writer.create_workflow`` takes, read from a file or inferred."""

    object_classes: list[str | tuple[str, str]]
    attributes: list[tuple] = field(default_factory=list)
    description: str = ""
    orders: list[str] = field(default_factory=list)


def read_taxonomy(path: str | Path) -> TaxonomySpec:
    """The taxonomy in a YAML (``.yaml``/``.yml``) or JSON file; a clear error otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportRecordError(f"taxonomy file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRecordError(f"cannot read taxonomy file {path}: {exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            document = yaml.safe_load(text)
        else:
            document = json.loads(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportRecordError(f"{path}: not valid {_kind(path)}: {first}") from None
    return _spec(document, path.name)


def _kind(path: Path) -> str:
    return "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"


def _spec(document, source: str) -> TaxonomySpec:
    if not isinstance(document, dict):
        raise ImportRecordError(f"{source}: the taxonomy is a mapping with 'object_classes'")
    unknown = sorted(set(document) - {"description", "object_classes", "attributes", "orders"})
    if unknown:
        raise ImportRecordError(
            f"{source}: unknown key {unknown[0]!r}; keys: description, object_classes, "
            "attributes, orders"
        )
    raw_classes = document.get("object_classes")
    if not isinstance(raw_classes, list) or not raw_classes:
        raise ImportRecordError(f"{source}: 'object_classes' is a list of at least one class")
    classes: list[str | tuple[str, str]] = []
    for index, raw in enumerate(raw_classes, 1):
        where = f"{source}: object class {index}"
        if isinstance(raw, str):
            classes.append(_name(raw, where))
            continue
        if not isinstance(raw, dict) or set(raw) - {"name", "colour", "color"}:
            raise ImportRecordError(f"{where}: a name, or {{name, colour}}")
        name = _name(raw.get("name"), where)
        colour = raw.get("colour", raw.get("color"))
        if colour is None:
            classes.append(name)
        elif isinstance(colour, str) and COLOUR.match(colour):
            classes.append((name, colour.lower()))
        else:
            raise ImportRecordError(f"{where} ({name}): colour is #rrggbb, got {colour!r}")
    attributes = []
    raw_attributes = document.get("attributes") or []
    if not isinstance(raw_attributes, list):
        raise ImportRecordError(f"{source}: 'attributes' is a list")
    types = ", ".join(t.value for t in ValueType)
    for index, raw in enumerate(raw_attributes, 1):
        where = f"{source}: attribute {index}"
        if not isinstance(raw, dict) or set(raw) - {"name", "type", "options"}:
            raise ImportRecordError(f"{where}: a mapping with name, type and (enum) options")
        name = _name(raw.get("name"), where)
        kind = raw.get("type")
        if kind not in {t.value for t in ValueType}:
            raise ImportRecordError(f"{where} ({name}): type is one of {types}, got {kind!r}")
        options = raw.get("options")
        if kind == "enum":
            if not isinstance(options, list) or not options:
                raise ImportRecordError(f"{where} ({name}): an enum needs a list of options")
            attributes.append((name, kind, [_name(str(o), where) for o in options]))
        elif options is not None:
            raise ImportRecordError(f"{where} ({name}): only an enum has options")
        else:
            attributes.append((name, kind))
    orders = document.get("orders") or []
    if not isinstance(orders, list):
        raise ImportRecordError(f"{source}: 'orders' is a list of order names")
    description = document.get("description") or ""
    if not isinstance(description, str):
        raise ImportRecordError(f"{source}: 'description' is text")
    return TaxonomySpec(
        classes, attributes, description, [_name(str(o), f"{source}: order") for o in orders]
    )


def _name(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ImportRecordError(f"{where}: a name is non-empty text, got {value!r}")
    return value.strip()


def infer_from_coco(document: dict, skipped: frozenset[str]) -> TaxonomySpec:
    """A taxonomy for ``import-coco --create``: the categories in file order as object
    classes; each attribute name used in the annotations (but the ``skipped`` ones) with
    the type its values share (boolean, integer, decimal, else string)."""
    categories = document.get("categories")
    if not isinstance(categories, list) or not categories:
        raise ImportRecordError("--create needs 'categories' in the COCO file")
    classes: list[str | tuple[str, str]] = []
    for category in categories:
        name = category.get("name") if isinstance(category, dict) else None
        name = _name(name, "a COCO category")
        if name not in classes:
            classes.append(name)
    seen: dict[str, set[str]] = {}
    for annotation in document.get("annotations") or []:
        attributes = annotation.get("attributes") if isinstance(annotation, dict) else None
        for key, value in (attributes or {}).items():
            if key in skipped or key == "entity_id" or value is None:
                continue
            seen.setdefault(key, set()).add(_json_type(value))
    attributes = [(name, _common_type(kinds)) for name, kinds in seen.items()]
    return TaxonomySpec(classes, attributes)


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    return "string"


def _common_type(kinds: set[str]) -> str:
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds == {"integer", "decimal"}:
        return "decimal"
    return "string"
