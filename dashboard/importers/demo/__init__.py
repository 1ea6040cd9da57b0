"""The demo workflow a newcomer sees on first start (SPEC section 6): a harbour inspection.

Everything is generated from one seed, so the same seed always gives the same store content
(file bytes, timestamps, entity ids): images of a harbour with drawn vessels, containers,
cranes, buoys, persons and corrosion patches; a machine stage ("detector") that outlines
most of them, misses a few and reports some false positives; and on most files a later
human stage ("review") that keeps, moves, relabels, deletes and adds annotations.

All records go through ``dashboard.store.writer`` so they are validated like imported data.
The plan (``plan``: cases, files, times, names) is drawn serially from the seed; each file's
image (``scene``) and its stages (``stages``) come from the file's own seed, so they can be
drawn in parallel; this module writes them.

``DEMO_WORKFLOW``, ``create_demo`` and ``ensure_demo`` are the package's interface.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard.errors import InvalidValueError
from dashboard.importers.demo.plan import (
    ATTRIBUTES,
    DEMO_WORKFLOW,
    HUMAN_STAGE,
    MACHINE_STAGE,
    OBJECT_CLASSES,
    ORDERS,
    SOURCES,
    CasePlan,
    plan_cases,
)
from dashboard.importers.demo.stages import FileContent, Record, file_content
from dashboard.store.db import Store
from dashboard.store.models import Workflow
from dashboard.store.writer import (
    BulkWriter,
    Taxonomy,
    create_workflow,
    data_source,
    workflow_order,
)

# ---------------------------------------------------------------------------------------
# writing

__all__ = ["DEMO_WORKFLOW", "create_demo", "ensure_demo"]


def _write_records(
    bulk: BulkWriter, taxonomy: Taxonomy, assessment_id: int, records: list[Record]
) -> None:
    for record in records:
        annotation = bulk.annotation(
            taxonomy,
            assessment_id,
            record.entity_id,
            record.object_class,
            record.geometry,
            confidence=record.confidence,
            class_confidence=record.class_confidence,
        )
        for name, value, confidence in record.values:
            bulk.value(
                taxonomy, assessment_id, record.entity_id, name, value, confidence, annotation
            )
        for name, value, confidence in record.entity_values:
            bulk.value(taxonomy, assessment_id, record.entity_id, name, value, confidence)


def _write_demo(
    session: Session, store: Store, cases: list[CasePlan], contents: Iterator[FileContent]
) -> None:
    workflow = create_workflow(
        session,
        DEMO_WORKFLOW,
        list(OBJECT_CLASSES),
        list(ATTRIBUTES),
        description="Demo: generated harbour images, a detector stage and a human review.",
    )
    taxonomy = Taxonomy(workflow)
    orders = {name: workflow_order(session, workflow, name) for name, _ in ORDERS}
    sources = {name: data_source(session, name, kind) for name, kind in SOURCES}
    bulk = BulkWriter(session)
    for planned in cases:
        case_id = bulk.case(workflow, planned.external_id, orders.get(planned.order))
        for plan in planned.files:
            content = next(contents)
            file_id = bulk.file(
                case_id,
                sources[plan.source],
                plan.file_name,
                data=content.data,
                storage=store.files,
                count=plan.count,
            )
            machine = bulk.assessment(
                file_id, MACHINE_STAGE, "machine", plan.detector, plan.machine_at
            )
            _write_records(bulk, taxonomy, machine, content.machine)
            if content.human is not None:
                human = bulk.assessment(file_id, HUMAN_STAGE, "human", plan.reviewer, plan.human_at)
                _write_records(bulk, taxonomy, human, content.human)
    bulk.finish()


def create_demo(store: Store, seed: int = 7, files: int = 240) -> str:
    """Create the demo workflow from ``seed`` with ``files`` images in one transaction.

    Returns the workflow's name; raises InvalidValueError if it exists already. The images
    are drawn by two threads before anything is written; each file's content depends only
    on its own seed, so the result does not depend on the threads' timing.
    """
    if files < 1:
        raise InvalidValueError(f"the demo needs at least one file, got {files}")
    cases = plan_cases(random.Random(seed), files)
    plans = [plan for planned in cases for plan in planned.files]
    with store.importing() as session:
        if session.scalar(select(Workflow.id).where(Workflow.name == DEMO_WORKFLOW)):
            raise InvalidValueError(
                f"workflow {DEMO_WORKFLOW!r} exists already; delete it or use another store"
            )
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-images") as pool:
            contents = list(pool.map(file_content, plans))
        _write_demo(session, store, cases, iter(contents))
    return DEMO_WORKFLOW


def ensure_demo(store: Store, seed: int = 7, files: int = 240) -> bool:
    """Create the demo if the store has no workflow at all; returns whether it did.

    Two servers starting on one empty store may both try: the one that loses the race
    (its transaction fails on the workflow's unique name) returns False.
    """
    if not store.is_empty():
        return False
    try:
        create_demo(store, seed=seed, files=files)
    except (InvalidValueError, DBAPIError):
        if DEMO_WORKFLOW in store.workflow_names():
            return False
        raise
    return True
