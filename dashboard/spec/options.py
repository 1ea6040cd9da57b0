"""The export options of SPEC section 3: their values, labels and one-line help texts.

The UI, the CLI and the docs all take labels and help from here, so a rule has one home.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    latest = "latest"
    all = "all"


class Layout(StrEnum):
    long = "long"
    wide = "wide"
    files = "files"
    annotated = "annotated"


SCOPE_LABELS = {
    Scope.all: "All Assessments",
    Scope.latest: "Latest Assessments",
}

LAYOUT_LABELS = {
    Layout.long: "Attribute Values and Confidences",
    Layout.wide: "Annotations",
    Layout.files: "Files",
    Layout.annotated: "Annotated Files (select workflow order)",
}

ACTION_LABELS = {
    Layout.long: "Export CSV",
    Layout.wide: "Export CSV",
    Layout.files: "Download ZIP",
    Layout.annotated: "Request annotated files",
}

LATEST_RULE = (
    "The latest assessment of a file is the one with the greatest assessed_at; "
    "ties are broken by the greater assessment id."
)

HELP = {
    "scope": "All: every assessment of each file (machine and human). Latest: only the most "
    "recent on each file.",
    "layout": "Long table (one row per attribute value), wide table (one row per annotation), "
    "the original files, or the files with annotations drawn.",
    "data_source": "Blank = all data sources, or only files from one data source.",
    "order": "Blank = all workflow orders, or only the files of one order (required for "
    "Annotated Files).",
    "stage_kind": "Blank = both, or only machine or only human assessments, after the "
    "Assessments choice: Latest + human = files whose latest pass is a human one.",
    "object_classes": "Blank = all, or only annotations of these classes (and only the files "
    "that have one); entity values stay with an entity that keeps an annotation.",
    "assessed": "Only assessments from the first day on and before the second (UTC). "
    "Latest + from = what changed since: the incremental export.",
}

LONG_COLUMNS = (
    "workflow",
    "workflow_order",
    "data_source",
    "file_id",
    "external_id",
    "file_name",
    "assessment_id",
    "stage",
    "stage_kind",
    "assessed_by",
    "assessed_at",
    "entity_id",
    "annotation_id",
    "frame",
    "attribute",
    "value",
    "confidence",
)

IDENTIFYING_COLUMNS = LONG_COLUMNS[: LONG_COLUMNS.index("frame") + 1]
WIDE_FIXED_COLUMNS = (*IDENTIFYING_COLUMNS, "object_class", "location", "confidence")

# SQLite's Arrow reader infers a column's type from its first rows, so a nullable REAL that
# starts with NULLs would be read as integers. Missing confidences travel as this sentinel
# (confidences are constrained to [0, 1]) and are turned back into nulls in Arrow.
NO_CONFIDENCE = -1.0

# Ordering of a long row's attribute within its annotation: location, object_class, taxonomy.
LOCATION, OBJECT_CLASS = "location", "object_class"
