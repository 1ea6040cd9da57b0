"""The workflow's Overview: what is in the store for the chosen workflow."""

from __future__ import annotations

import panel as pn
import param
from sqlalchemy import func, select

from dashboard.query.export import ExportQuery
from dashboard.query.options import Scope
from dashboard.store.db import Store
from dashboard.store.models import Annotation, Assessment, Case, DataFile


def stage_counts(store: Store, workflow: str) -> list[tuple[str, str, int]]:
    """Assessments per (stage, stage kind) in the workflow."""
    with store.session() as session:
        workflow_id = store.workflow(session, workflow).id
        rows = session.execute(
            select(Assessment.stage, Assessment.stage_kind, func.count())
            .join(DataFile, Assessment.data_file_id == DataFile.id)
            .join(Case, DataFile.case_id == Case.id)
            .where(Case.workflow_id == workflow_id)
            .group_by(Assessment.stage, Assessment.stage_kind)
            .order_by(Assessment.stage)
        ).all()
    return [(stage, str(kind), count) for stage, kind, count in rows]


def annotation_count(store: Store, workflow: str) -> int:
    with store.session() as session:
        workflow_id = store.workflow(session, workflow).id
        return session.scalar(
            select(func.count(Annotation.id))
            .join(Assessment, Annotation.assessment_id == Assessment.id)
            .join(DataFile, Assessment.data_file_id == DataFile.id)
            .join(Case, DataFile.case_id == Case.id)
            .where(Case.workflow_id == workflow_id)
        )


class Overview(pn.viewable.Viewer):
    store = param.Parameter()
    workflow = param.String()

    @param.depends("workflow")
    def _counts(self):
        if not self.workflow:
            return pn.pane.Markdown("No workflow in the store yet.")
        counts = ExportQuery(self.store, workflow=self.workflow, scope=Scope.all).counts()
        stages = stage_counts(self.store, self.workflow)
        return pn.Row(
            pn.indicators.Number(name="Files", value=counts.files, format="{value:,}"),
            pn.indicators.Number(name="Assessments", value=counts.assessments, format="{value:,}"),
            pn.indicators.Number(
                name="Annotations",
                value=annotation_count(self.store, self.workflow),
                format="{value:,}",
            ),
            pn.pane.Markdown(
                "| stage | kind | assessments |\n|---|---|---|\n"
                + "\n".join(f"| {stage} | {kind} | {count:,} |" for stage, kind, count in stages)
            ),
        )

    def __panel__(self):
        return pn.Column(self._counts)
