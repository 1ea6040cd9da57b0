"""Synthetic workflows for the benchmarks: fast, deterministic, realistically shaped.

    .venv/bin/python bench/generate.py --rows 1000000 --db-url sqlite:////tmp/bench.db

One workflow (``bench-export``) with 6 object classes, 7 attributes (every value type), 3
workflow orders (a few cases in none), 2 data sources, cases of 1-3 files. Each file has a
machine assessment and, for most, a later human one that keeps most of the machine's
entities (same UUID, moved geometry, no confidence), drops some and adds some. About 5
annotations per assessment, about 3 attribute values per annotation (sometimes two values of
one attribute), some entity-level values (``annotation_id`` NULL; a few on entities with no
annotation in that assessment), confidences with some NULLs, a few string values that need
spreadsheet escaping. Files have no bytes (empty storage key and sha256, sizes 0).

Files are generated until the long layout has at least ``rows`` rows (2 per annotation plus
1 per attribute value): ~21,000 files and ~190,000 annotations per million rows.

The schema comes from ``open_store`` (Alembic migrations); the rows go in by bulk loads, not
the ORM writer: stdlib ``sqlite3.executemany`` for SQLite, ``COPY`` for PostgreSQL. Then
the assessment summaries are counted as the writer counts them (``store.summary.recount``).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from dashboard.store import summary  # noqa: E402
from dashboard.store.db import Store, open_store  # noqa: E402
from dashboard.store.models import (  # noqa: E402
    Attribute,
    DataSource,
    ObjectClass,
    Workflow,
    WorkflowOrder,
)

WORKFLOW = "bench-export"
GENERATOR_VERSION = 2  # bump when the generated data changes (cached databases are rebuilt)
BATCH = 50_000

CLASSES = [
    ("crack", "#e6194b"),
    ("corrosion", "#3cb44b"),
    ("dent", "#ffe119"),
    ("scratch", "#4363d8"),
    ("missing-bolt", "#f58231"),
    ("graffiti", "#911eb4"),
]
ATTRIBUTES = [  # name, value type, enum options
    ("severity", "enum", ["low", "medium", "high", "critical"]),
    ("occluded", "boolean", None),
    ("defect_count", "integer", None),
    ("length_mm", "decimal", None),
    ("note", "string", None),
    ("repaired", "boolean", None),
    ("material", "enum", ["steel", "concrete", "wood", "paint"]),
]
ORDERS = ["8492192", "8492193", "8492194"]
SOURCES = [("camera-1", "camera"), ("bucket-archive", "bucket")]
NOTES = [
    "hairline, check again",
    "near weld seam",
    "see previous inspection",
    "partly covered by paint",
    '=HYPERLINK("http://example.com")',  # needs spreadsheet escaping
    "-3 mm offset",  # needs escaping too
    "ok",
    'rust stain below, "large"',
]
REVIEWERS = ["ana.silva", "j.okafor", "m.nguyen", "t.berg"]
T0 = datetime(2026, 1, 5, 8, 0, 0)

BIG_TABLES = {
    "assessment_case": ["id", "workflow_id", "workflow_order_id", "external_id"],
    "data_file": [
        "id",
        "case_id",
        "count",
        "data_source_id",
        "file_name",
        "content_type",
        "width",
        "height",
        "byte_size",
        "sha256",
        "storage_key",
    ],
    "assessment": ["id", "data_file_id", "stage", "stage_kind", "assessed_by", "assessed_at"],
    "entity": ["id", "workflow_id", "number"],
    "annotation": [
        "id",
        "assessment_id",
        "entity_id",
        "object_class_id",
        "geometry",
        "confidence",
        "class_confidence",
        "frame",
    ],
    "attribute_value": [
        "id",
        "assessment_id",
        "entity_id",
        "annotation_id",
        "attribute_id",
        "value",
        "confidence",
    ],
}


@dataclass
class Totals:
    files: int = 0
    assessments: int = 0
    annotations: int = 0
    attribute_values: int = 0
    entities: int = 0
    seconds: float = 0.0

    @property
    def long_rows(self) -> int:
        return 2 * self.annotations + self.attribute_values


@dataclass
class _Ids:
    case: int = 0
    file: int = 0
    assessment: int = 0
    annotation: int = 0
    value: int = 0


@dataclass
class _Batch:
    rows: dict[str, list[tuple]] = field(default_factory=lambda: {t: [] for t in BIG_TABLES})

    def size(self) -> int:
        return sum(len(r) for r in self.rows.values())


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _box(rng: random.Random) -> tuple[float, float, float, float]:
    x, y = rng.uniform(0, 1700), rng.uniform(0, 900)
    return x, y, x + rng.uniform(12, 220), y + rng.uniform(12, 180)


def _wkt(rng: random.Random, box: tuple[float, float, float, float], jitter: float) -> str:
    x0, y0, x1, y1 = (round(v + rng.uniform(-jitter, jitter), 1) for v in box)
    if rng.random() < 0.25:  # a polygon, not a box
        mx = round((x0 + x1) / 2, 1)
        points = [(x0, y0), (mx, y0 - 6.5), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    else:
        points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return "POLYGON ((" + ", ".join(f"{x:g} {y:g}" for x, y in points) + "))"


def _value(rng: random.Random, kind: str, options: list[str] | None) -> str:
    if kind == "enum":
        return rng.choice(options)
    if kind == "boolean":
        return rng.choice(("true", "false"))
    if kind == "integer":
        return str(rng.randint(0, 40))
    if kind == "decimal":
        return f"{rng.uniform(0.5, 900):.2f}".rstrip("0").rstrip(".")
    return rng.choice(NOTES)


def _conf(rng: random.Random, null_share: float) -> float | None:
    return None if rng.random() < null_share else round(rng.uniform(0.05, 1.0), 4)


class _Generator:
    def __init__(self, seed: int, workflow_id: int, class_ids, attribute_ids, order_ids, sources):
        self.rng = random.Random(seed)
        self.ids = _Ids()
        self.workflow_id = workflow_id
        self.class_ids = class_ids
        self.attributes = attribute_ids  # [(id, kind, options)]
        self.order_ids = order_ids
        self.source_ids = sources
        self.totals = Totals()

    def _values(self, batch, assessment_id, entity_id, annotation_id, null_share) -> None:
        rng = self.rng
        picked = rng.sample(self.attributes, rng.choice((1, 2, 3, 3, 4, 5)))
        if rng.random() < 0.03:  # two values of one attribute
            picked.append(picked[0])
        for attribute_id, kind, options in picked:
            self.ids.value += 1
            batch.rows["attribute_value"].append(
                (
                    self.ids.value,
                    assessment_id,
                    entity_id,
                    annotation_id,
                    attribute_id,
                    _value(rng, kind, options),
                    _conf(rng, null_share),
                )
            )
        self.totals.attribute_values += len(picked)

    def _assessment(self, batch, file_id, stage, kind, by, at) -> int:
        self.ids.assessment += 1
        batch.rows["assessment"].append((self.ids.assessment, file_id, stage, kind, by, at))
        self.totals.assessments += 1
        return self.ids.assessment

    def _annotation(self, batch, assessment_id, entity_id, class_id, wkt, conf, class_conf) -> int:
        self.ids.annotation += 1
        batch.rows["annotation"].append(
            (self.ids.annotation, assessment_id, entity_id, class_id, wkt, conf, class_conf, 0)
        )
        self.totals.annotations += 1
        return self.ids.annotation

    def _entity(self, batch) -> str:
        entity_id = _uuid(self.rng)
        self.totals.entities += 1
        batch.rows["entity"].append((entity_id, self.workflow_id, self.totals.entities))
        return entity_id

    def file(self, batch: _Batch, case_id: int, count: int, when: datetime, at) -> None:
        """One file with its machine and (usually) human assessment."""
        rng = self.rng
        self.ids.file += 1
        file_id = self.ids.file
        batch.rows["data_file"].append(
            (
                file_id,
                case_id,
                count,
                rng.choice(self.source_ids),
                f"IMG_{file_id:07d}.JPG",
                "image/jpeg",
                0,
                0,
                0,
                "",
                "",
            )
        )
        self.totals.files += 1

        machine = self._assessment(
            batch, file_id, "detector", "machine", "detector@2.3.1", at(when)
        )
        detections = []
        for _ in range(rng.randint(3, 7)):
            entity_id = self._entity(batch)
            box, class_id = _box(rng), rng.choice(self.class_ids)
            annotation_id = self._annotation(
                batch,
                machine,
                entity_id,
                class_id,
                _wkt(rng, box, 0),
                _conf(rng, 0.02),
                _conf(rng, 0.05),
            )
            self._values(batch, machine, entity_id, annotation_id, 0.05)
            detections.append((entity_id, box, class_id))
        if rng.random() < 0.3:  # an entity-level value
            self._values(batch, machine, rng.choice(detections)[0], None, 0.05)

        if rng.random() < 0.15:  # not reviewed yet
            return
        human_at = when + timedelta(hours=rng.randint(2, 200), seconds=rng.randint(0, 3599))
        reviewer = rng.choice(REVIEWERS)
        human = self._assessment(batch, file_id, "review", "human", reviewer, at(human_at))
        kept = [d for d in detections if rng.random() < 0.85]
        dropped = [d for d in detections if d not in kept]
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            kept.append((self._entity(batch), _box(rng), rng.choice(self.class_ids)))
        for entity_id, box, class_id in kept:
            if rng.random() < 0.1:
                class_id = rng.choice(self.class_ids)
            annotation_id = self._annotation(
                batch,
                human,
                entity_id,
                class_id,
                _wkt(rng, box, 4),
                _conf(rng, 0.9),
                _conf(rng, 0.9),
            )
            self._values(batch, human, entity_id, annotation_id, 0.4)
        if kept and rng.random() < 0.3:
            self._values(batch, human, rng.choice(kept)[0], None, 0.4)
        if dropped and rng.random() < 0.1:  # values on an entity not annotated here
            self._values(batch, human, dropped[0][0], None, 0.4)

    def batches(self, rows: int, at) -> Iterator[_Batch]:
        rng = self.rng
        batch = _Batch()
        when = T0
        while self.totals.long_rows < rows:
            self.ids.case += 1
            order = None if rng.random() < 0.05 else rng.choice(self.order_ids)
            external_id = str(3_100_000 + self.ids.case * 7 + rng.randint(0, 6))
            batch.rows["assessment_case"].append(
                (self.ids.case, self.workflow_id, order, external_id)
            )
            for count in range(1, rng.randint(1, 3) + 1):
                when += timedelta(seconds=rng.randint(20, 400))
                self.file(batch, self.ids.case, count, when, at)
            if batch.size() >= BATCH:
                yield batch
                batch = _Batch()
        if batch.size():
            yield batch


def _sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's storage format for DateTime on SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _taxonomy(store: Store):
    """The workflow, its taxonomy, orders and data sources, by SQLAlchemy Core."""
    with store.engine.begin() as connection:
        workflow_id = connection.execute(
            insert(Workflow.__table__).values(name=WORKFLOW, description="benchmark workflow")
        ).inserted_primary_key[0]
        class_ids = []
        for position, (name, colour) in enumerate(CLASSES):
            class_ids.append(
                connection.execute(
                    insert(ObjectClass.__table__).values(
                        workflow_id=workflow_id, name=name, colour=colour, position=position
                    )
                ).inserted_primary_key[0]
            )
        attributes = []
        for position, (name, kind, options) in enumerate(ATTRIBUTES):
            attribute_id = connection.execute(
                insert(Attribute.__table__).values(
                    workflow_id=workflow_id,
                    name=name,
                    value_type=kind,
                    options=options,
                    position=position,
                )
            ).inserted_primary_key[0]
            attributes.append((attribute_id, kind, options))
        order_ids = [
            connection.execute(
                insert(WorkflowOrder.__table__).values(workflow_id=workflow_id, name=name)
            ).inserted_primary_key[0]
            for name in ORDERS
        ]
        source_ids = [
            connection.execute(
                insert(DataSource.__table__).values(name=name, kind=kind)
            ).inserted_primary_key[0]
            for name, kind in SOURCES
        ]
    return workflow_id, class_ids, attributes, order_ids, source_ids


def _load_sqlite(path: str, batches: Iterator[_Batch]) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        for batch in batches:
            for table, columns in BIG_TABLES.items():
                if batch.rows[table]:
                    marks = ", ".join("?" * len(columns))
                    connection.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                        batch.rows[table],
                    )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _load_postgres(url: str, batches: Iterator[_Batch]) -> None:
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        with connection.cursor() as cursor:
            for batch in batches:
                for table, columns in BIG_TABLES.items():
                    if batch.rows[table]:
                        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                        with cursor.copy(sql) as copy:
                            for row in batch.rows[table]:
                                copy.write_row(row)
            for table in BIG_TABLES:  # later ORM inserts must not collide with our ids
                if table != "entity":
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
            cursor.execute(
                "SELECT setval('entity_number_seq', (SELECT coalesce(max(number), 1) FROM entity))"
            )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")  # what autovacuum does soon after a bulk load


def generate(db_url: str, files_url: str, rows: int, seed: int = 20261128) -> Totals:
    """Create the schema and fill it; returns what was generated."""
    started = time.perf_counter()
    store = open_store(db_url=db_url, files_url=files_url)
    try:
        ids = _taxonomy(store)
        generator = _Generator(seed, *ids)
        if store.dialect == "sqlite":
            _load_sqlite(store.engine.url.database, generator.batches(rows, _sqlite_time))
        else:
            _load_postgres(db_url, generator.batches(rows, lambda moment: moment))
        with store.engine.begin() as connection:  # what the writer keeps (store/summary.py)
            summary.recount(connection)
        if store.dialect == "postgresql":  # what autovacuum does soon after
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE assessment_summary"))
    finally:
        store.dispose()
    generator.totals.seconds = time.perf_counter() - started
    return generator.totals


PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # this machine's server


def pg_schema_url(prefix: str) -> str | None:
    """The URL of a new empty schema of PG_BASE's database, or None when PostgreSQL is not
    reachable (a bench then says it measured SQLite only)."""
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_BASE)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception:  # noqa: BLE001 (any failure: no PostgreSQL figure, said in the table)
        return None
    return f"{PG_BASE}?options=-csearch_path%3D{schema}"


def drop_pg_schema(url: str) -> None:
    """Drop the schema of a ``pg_schema_url``."""
    from sqlalchemy import create_engine, text

    schema = url.rsplit("%3D", 1)[1]
    admin = create_engine(PG_BASE)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="long rows, at least")
    parser.add_argument("--db-url", required=True, help="SQLAlchemy URL of an empty store")
    parser.add_argument("--files-url", default=None, help="file storage (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    import tempfile

    files_url = args.files_url or tempfile.mkdtemp(prefix="bench-files-")
    totals = generate(args.db_url, files_url, args.rows, args.seed)
    print(json.dumps({**totals.__dict__, "long_rows": totals.long_rows}))


if __name__ == "__main__":
    main()
