"""Plain records the query layer hands to the producers (no SQL, no UI)."""

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
