"""The workflow Overview's numbers: SQL aggregates returned as small pandas DataFrames.

No Panel or HoloViews here: the dashboard's Overview draws these frames, and a notebook can
use them as they are. Every function takes a workflow's name, raises UnknownWorkflowError
for an unknown one, and lets the database do the counting, so the frames stay small (a few
rows per order, day, class or confidence bin) however large the workflow is. All SQL is
SQLAlchemy Core that runs the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import (
    Date,
    Integer,
    Select,
    Text,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from dashboard.errors import UnknownChoiceError
from dashboard.query import sql
from dashboard.query.sql import (
    annotations,  # the table (over the name `from __future__ import annotations` binds)
    assessments,
    cases,
    data_files,
    object_classes,
    orders,
    sources,
)
from dashboard.spec.options import SCOPE_LABELS, Scope
from dashboard.store.db import Store
from dashboard.store.models import DataSource, Entity, ObjectClass, StageKind, WorkflowOrder

NO_ORDER = "(no order)"  # the workflow_order of files in no order
BINS = 20  # confidence histogram bins of width 1/BINS over [0, 1]
CHANGES = ("kept", "moved", "reclassified", "deleted", "added")  # human_changes, in this order
STAGE_KINDS = tuple(kind.value for kind in StageKind)
_COMPARED = ("machine_class", "machine_geometry", "human_class", "human_geometry")

e = Entity.__table__


def _workflow_id(store: Store, session: Session, workflow: str) -> int:
    return store.workflow(session, workflow).id


def _workflow_files(workflow_id: int) -> Select:
    """Ids of every file of the workflow (all orders and data sources), unordered."""
    return sql.files_in_scope(sql.Filters(workflow_id, Scope.all)).order_by(None)


def _frame(session: Session, stmt: Select, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(session.execute(stmt).all(), columns=columns)


def _stage_kind_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Stage kinds as plain strings ("machine", "human"), not enum members."""
    frame["stage_kind"] = frame["stage_kind"].map(str).astype(object)
    return frame


def files_by_order_and_source(store: Store, workflow: str) -> pd.DataFrame:
    """Files and their assessments per workflow order and data source.

    Columns ``workflow_order`` (``"(no order)"`` for files in none), ``data_source``,
    ``files``, ``assessments``; orders by name with no order last, then data sources by name.
    Only combinations that have files appear.
    """
    with store.session() as session:
        workflow_id = _workflow_id(store, session, workflow)
        stmt = (
            select(
                orders.c.name.label("workflow_order"),
                sources.c.name.label("data_source"),
                func.count(data_files.c.id.distinct()).label("files"),
                func.count(assessments.c.id).label("assessments"),
            )
            .select_from(
                data_files.join(cases, data_files.c.case_id == cases.c.id)
                .join(sources, data_files.c.data_source_id == sources.c.id)
                .outerjoin(orders, cases.c.workflow_order_id == orders.c.id)
                .outerjoin(assessments, assessments.c.data_file_id == data_files.c.id)
            )
            .where(cases.c.workflow_id == workflow_id)
            .group_by(orders.c.name, sources.c.name)
        )
        frame = _frame(session, stmt, ["workflow_order", "data_source", "files", "assessments"])
    no_order = frame["workflow_order"].isna()
    frame["workflow_order"] = frame["workflow_order"].where(~no_order, NO_ORDER)
    frame = frame.assign(_last=no_order).sort_values(["_last", "workflow_order", "data_source"])
    return frame.drop(columns="_last").reset_index(drop=True)


def _day(column: ColumnElement, dialect: str) -> ColumnElement:
    """The UTC calendar day of a naive UTC timestamp."""
    if dialect == "sqlite":
        return func.date(column)
    return cast(column, Date)


def assessments_over_time(store: Store, workflow: str) -> pd.DataFrame:
    """Assessments per UTC day (of ``assessed_at``) and stage kind.

    Columns ``day`` (``datetime.date``), ``stage_kind``, ``assessments``; by day, then
    stage kind (machine before human). Days without assessments do not appear.
    """
    with store.session() as session:
        workflow_id = _workflow_id(store, session, workflow)
        days = (
            select(
                _day(assessments.c.assessed_at, store.dialect).label("day"),
                assessments.c.stage_kind,
            )
            .where(assessments.c.data_file_id.in_(_workflow_files(workflow_id)))
            .subquery("days")
        )
        stmt = select(days.c.day, days.c.stage_kind, func.count().label("assessments")).group_by(
            days.c.day, days.c.stage_kind
        )
        frame = _frame(session, stmt, ["day", "stage_kind", "assessments"])
    frame = _stage_kind_text(frame)
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    frame["_kind"] = frame["stage_kind"].map(STAGE_KINDS.index)
    frame = frame.sort_values(["day", "_kind"]).drop(columns="_kind")
    return frame.reset_index(drop=True)


def _scope(scope: Scope | str) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        valid = ", ".join(f"{value.value} ({label})" for value, label in SCOPE_LABELS.items())
        raise UnknownChoiceError(f"unknown scope {scope!r}; valid scopes: {valid}") from None


def class_distribution(store: Store, workflow: str, scope: Scope | str = "latest") -> pd.DataFrame:
    """Annotations per object class, over every class of the taxonomy (zero included).

    ``scope`` "latest" counts only each file's latest assessment (the Latest rule of SPEC
    section 2: the greatest ``assessed_at``, ties broken by the greater assessment id); "all"
    counts every assessment. Columns ``object_class``, ``colour`` (the class's ``#rrggbb``),
    ``annotations``; in taxonomy order.
    """
    scope = _scope(scope)
    with store.session() as session:
        workflow_id = _workflow_id(store, session, workflow)
        scoped = sql.assessments_in_scope(scope, _workflow_files(workflow_id))
        per_class = (
            select(annotations.c.object_class_id, func.count().label("annotations"))
            .select_from(annotations.join(scoped, annotations.c.assessment_id == scoped.c.id))
            .group_by(annotations.c.object_class_id)
            .subquery("per_class")
        )
        stmt = (
            select(
                object_classes.c.name,
                object_classes.c.colour,
                func.coalesce(per_class.c.annotations, 0),
            )
            .select_from(
                object_classes.outerjoin(
                    per_class, per_class.c.object_class_id == object_classes.c.id
                )
            )
            .where(object_classes.c.workflow_id == workflow_id)
            .order_by(object_classes.c.position)
        )
        return _frame(session, stmt, ["object_class", "colour", "annotations"])


def _bin(column: ColumnElement, dialect: str) -> ColumnElement:
    """The confidence bin 0..BINS-1: [i/BINS, (i+1)/BINS), with 1.0 in the last bin."""
    scaled = column * BINS
    index = cast(scaled, Integer) if dialect == "sqlite" else cast(func.floor(scaled), Integer)
    return case((index >= BINS, BINS - 1), else_=index)


def confidences(store: Store, workflow: str) -> pd.DataFrame:
    """Histogram of location confidences per stage kind, binned in SQL.

    Every annotation of every assessment counts once; annotations without a confidence are
    left out. Columns ``stage_kind``, ``bin`` (0..BINS-1), ``low``, ``high`` (the bin's
    edges), ``annotations``; only bins that hold annotations appear, by stage kind (machine
    first), then bin.
    """
    with store.session() as session:
        workflow_id = _workflow_id(store, session, workflow)
        binned = (
            select(
                assessments.c.stage_kind, _bin(annotations.c.confidence, store.dialect).label("bin")
            )
            .select_from(
                annotations.join(assessments, annotations.c.assessment_id == assessments.c.id)
            )
            .where(assessments.c.data_file_id.in_(_workflow_files(workflow_id)))
            .where(annotations.c.confidence.is_not(None))
            .subquery("binned")
        )
        stmt = select(binned.c.stage_kind, binned.c.bin, func.count()).group_by(
            binned.c.stage_kind, binned.c.bin
        )
        frame = _frame(session, stmt, ["stage_kind", "bin", "annotations"])
    frame = _stage_kind_text(frame)
    frame["bin"] = frame["bin"].astype(int)
    frame.insert(2, "low", frame["bin"] / BINS)
    frame.insert(3, "high", (frame["bin"] + 1) / BINS)
    frame["_kind"] = frame["stage_kind"].map(STAGE_KINDS.index)
    frame = frame.sort_values(["_kind", "bin"]).drop(columns="_kind")
    return frame.reset_index(drop=True)


def _review_pairs(workflow_id: int):
    """Per file: its latest machine assessment and the latest human assessment after it.

    Every assessment is a machine or a human one, so a human assessment comes after the
    latest machine one exactly when the file's latest assessment is a human one, and the
    latest of those is then that one: both sides are the Latest rule (``sql.latest``). The
    two sides stack and a GROUP BY per file pairs them (a join of the two ranked subqueries
    is a nested scan on SQLite).
    """
    files = _workflow_files(workflow_id)
    machine = sql.latest(files, assessments.c.stage_kind == StageKind.machine).subquery("machine")
    last = sql.latest(files).subquery("last")
    none = cast(null(), Integer)
    sides = union_all(
        select(machine.c.data_file_id, machine.c.id.label("machine_id"), none.label("human_id")),
        select(last.c.data_file_id, none, last.c.id).where(last.c.stage_kind == StageKind.human),
    ).subquery("sides")
    machine_id, human_id = func.max(sides.c.machine_id), func.max(sides.c.human_id)
    return (
        select(machine_id.label("machine_id"), human_id.label("human_id"))
        .group_by(sides.c.data_file_id)
        .having(machine_id.is_not(None), human_id.is_not(None))
        .cte("review_pairs")
    )


def _side(pairs, side: str) -> Select:
    """One side's annotations of each pair, numbered within (entity, frame).

    The other side's columns are NULL, so both sides stack into one table whose rows a
    GROUP BY on (pair, entity, frame, ordinal) matches up without a join.
    """
    columns = {
        f"{kind}_{part}": cast(null(), Integer if part == "class" else Text)
        for kind in STAGE_KINDS
        for part in ("class", "geometry")
    }
    columns[f"{side}_class"] = annotations.c.object_class_id
    columns[f"{side}_geometry"] = annotations.c.geometry
    return select(
        pairs.c.human_id.label("pair_id"),
        annotations.c.entity_id,
        annotations.c.frame,
        func.row_number()
        .over(
            partition_by=(
                annotations.c.assessment_id,
                annotations.c.entity_id,
                annotations.c.frame,
            ),
            order_by=annotations.c.id,
        )
        .label("ordinal"),
        *(columns[name].label(name) for name in _COMPARED),
    ).select_from(pairs.join(annotations, annotations.c.assessment_id == pairs.c[f"{side}_id"]))


def human_changes(store: Store, workflow: str) -> pd.DataFrame:
    """What the human stage changed against the machine stage, per object class.

    For each file, its latest machine assessment (the Latest rule among machine assessments)
    is compared with the latest human assessment after it (later ``assessed_at``, or the same
    time and a greater id). Files without such a pair (no machine assessment, or no human
    assessment after it) are left out. Annotations are matched by entity id and frame (an
    entity with several annotations in one frame: in the order of their ids), so every
    annotation of both sides is counted exactly once:

    - ``kept``: matched, same object class and the same geometry (WKT text; the store keeps
      geometry in one canonical form);
    - ``moved``: matched, same object class, different geometry;
    - ``reclassified``: matched, different object class (geometry may differ too); counted
      under the **machine's** class, so a class's kept + moved + reclassified + deleted is
      the machine's annotations of that class;
    - ``deleted``: only in the machine assessment (machine class);
    - ``added``: only in the human assessment (human class).

    Entity-level attribute values without an annotation are not compared. Columns
    ``object_class``, ``change``, ``count``; only non-zero counts, in taxonomy order, then
    the order above.
    """
    with store.session() as session:
        workflow_id = _workflow_id(store, session, workflow)
        pairs = _review_pairs(workflow_id)
        sides = union_all(_side(pairs, "machine"), _side(pairs, "human")).subquery("sides")
        key = (sides.c.pair_id, sides.c.entity_id, sides.c.frame, sides.c.ordinal)
        matched = (
            select(*(func.max(sides.c[name]).label(name) for name in _COMPARED))
            .group_by(*key)
            .subquery("matched")
        )
        change = case(
            (matched.c.human_class.is_(None), literal("deleted")),
            (matched.c.machine_class.is_(None), literal("added")),
            (matched.c.human_class != matched.c.machine_class, literal("reclassified")),
            (matched.c.human_geometry != matched.c.machine_geometry, literal("moved")),
            else_=literal("kept"),
        )
        changes = select(
            func.coalesce(matched.c.machine_class, matched.c.human_class).label("class_id"),
            change.label("change"),
        ).subquery("changes")
        stmt = (
            select(object_classes.c.name, object_classes.c.position, changes.c.change, func.count())
            .select_from(changes.join(object_classes, changes.c.class_id == object_classes.c.id))
            .group_by(object_classes.c.name, object_classes.c.position, changes.c.change)
        )
        frame = _frame(session, stmt, ["object_class", "_position", "change", "count"])
    frame["_change"] = frame["change"].map(CHANGES.index)
    frame = frame.sort_values(["_position", "_change"]).drop(columns=["_position", "_change"])
    return frame.reset_index(drop=True)


def summary(store: Store, workflow: str) -> dict[str, Any]:
    """The workflow's headline numbers, in one statement.

    Keys: ``files``, ``cases``, ``assessments``, ``machine_assessments``,
    ``human_assessments``, ``annotations``, ``entities`` (of the workflow, including those
    with only attribute values), ``orders`` (including orders without files),
    ``data_sources`` (that the workflow's files come from).
    """
    with store.session() as session:
        workflow_id = _workflow_id(store, session, workflow)
        files = _workflow_files(workflow_id)

        def count(table, *where) -> ColumnElement:
            return select(func.count()).select_from(table).where(*where).scalar_subquery()

        in_workflow = assessments.c.data_file_id.in_(files)
        stmt = select(
            count(data_files, data_files.c.id.in_(files)).label("files"),
            count(cases, cases.c.workflow_id == workflow_id).label("cases"),
            count(assessments, in_workflow, assessments.c.stage_kind == StageKind.machine).label(
                "machine"
            ),
            count(assessments, in_workflow, assessments.c.stage_kind == StageKind.human).label(
                "human"
            ),
            count(
                annotations.join(assessments, annotations.c.assessment_id == assessments.c.id),
                in_workflow,
            ).label("annotations"),
            count(e, e.c.workflow_id == workflow_id).label("entities"),
            count(orders, orders.c.workflow_id == workflow_id).label("orders"),
            select(func.count(data_files.c.data_source_id.distinct()))
            .where(data_files.c.id.in_(files))
            .scalar_subquery()
            .label("data_sources"),
        )
        row = session.execute(stmt).one()._asdict()
    return {
        "files": row["files"],
        "cases": row["cases"],
        "assessments": row["machine"] + row["human"],
        "machine_assessments": row["machine"],
        "human_assessments": row["human"],
        "annotations": row["annotations"],
        "entities": row["entities"],
        "orders": row["orders"],
        "data_sources": row["data_sources"],
    }


# -- one workflow's Overview, shared by every session until data is added -------------------

CACHE_SIZE = 32  # workflows (of any store) whose Overview numbers are kept


def overview_version(store: Store) -> tuple:
    """Changes whenever anything the Overview shows may change: the store's data version
    (the newest workflow, file, assessment, annotation and value ids; data is append-only)
    and the newest object class, order and data source (a taxonomy grows without new
    assessments). A few index look-ups: cheap enough to read on every page load."""
    with store.engine.connect() as connection:
        extra = connection.execute(
            select(
                *(
                    select(func.max(model.id)).scalar_subquery()
                    for model in (ObjectClass, WorkflowOrder, DataSource)
                )
            )
        ).one()
    return (*store.data_version(), *extra)


class OverviewNumbers:
    """Everything one workflow's Overview shows, read once per data version.

    The frames are those of the functions above; they are computed when first asked for
    and shared, so treat them as read-only. ``class_distribution`` is kept per scope."""

    def __init__(self, store: Store, workflow: str) -> None:
        self.store, self.workflow = store, workflow
        self._lock = threading.Lock()
        self._values: dict[Any, Any] = {}

    def _get(self, key, compute: Callable[[], Any]):
        with self._lock:  # sessions asking at once wait for one computation
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]

    def summary(self) -> dict[str, Any]:
        return self._get("summary", lambda: summary(self.store, self.workflow))

    def files_by_order_and_source(self) -> pd.DataFrame:
        return self._get("orders", lambda: files_by_order_and_source(self.store, self.workflow))

    def assessments_over_time(self) -> pd.DataFrame:
        return self._get("time", lambda: assessments_over_time(self.store, self.workflow))

    def confidences(self) -> pd.DataFrame:
        return self._get("confidences", lambda: confidences(self.store, self.workflow))

    def human_changes(self) -> pd.DataFrame:
        return self._get("changes", lambda: human_changes(self.store, self.workflow))

    def class_distribution(self, scope: Scope | str = "latest") -> pd.DataFrame:
        scope = _scope(scope)
        return self._get(
            ("classes", scope), lambda: class_distribution(self.store, self.workflow, scope)
        )


_numbers: dict[tuple, OverviewNumbers] = {}
_numbers_lock = threading.Lock()


def cached_numbers(store: Store, workflow: str) -> OverviewNumbers:
    """The workflow's Overview numbers at the store's current data version, shared by every
    caller in this process (each page load of the dashboard asks again: one cheap version
    read, and the aggregates only after data was added). An unknown workflow raises
    UnknownWorkflowError and is not kept."""
    key = (store.db_url, workflow, overview_version(store))
    with _numbers_lock:
        numbers = _numbers.get(key)
        if numbers is None:
            numbers = _numbers[key] = OverviewNumbers(store, workflow)
            while len(_numbers) > CACHE_SIZE:
                _numbers.pop(next(iter(_numbers)))
    try:
        numbers.summary()  # the first question: an unknown workflow fails here
    except Exception:
        with _numbers_lock:
            if _numbers.get(key) is numbers:
                del _numbers[key]
        raise
    return numbers
