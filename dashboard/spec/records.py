"""Plain records the query layer hands to the producers (no SQL, no UI, no IO)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileRecord:
    """One data file as the Files and Annotated Files layouts need it."""

    file_id: int
    external_id: str
    workflow: str
    workflow_order: str | None
    data_source: str
    count: int
    file_name: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str
    storage_key: str

    @property
    def order_or_workflow(self) -> str:
        """The name used in archive member names: the order's, or the workflow's if none."""
        return self.workflow_order if self.workflow_order is not None else self.workflow


@dataclass(frozen=True)
class Overlay:
    """One annotation to draw: WKT geometry in displayed pixel coordinates."""

    geometry: str
    object_class: str
    colour: str | None = None  # "#rrggbb"; None or malformed: class_colour(object_class)
    confidence: float | None = None
    annotation_id: int | None = None  # the annotation drawn (hover details are looked up by it)


@dataclass(frozen=True)
class AnnotatedItem:
    """One image of the archive: a file drawn with one assessment's annotations."""

    record: FileRecord
    assessment_id: int | None  # None: the file has no assessment in scope (drawn bare)
    stage: str | None  # in the member name with All Assessments
    overlays: tuple[Overlay, ...]
