"""Chunked reading: any chunk size gives the same bytes, the read-ahead thread behaves."""

from __future__ import annotations

import io
import threading

import pytest

from dashboard.export import ExportQuery
from dashboard.query import chunks
from dashboard.query.chunks import file_chunks, record_chunks
from dashboard.streams import read_ahead


@pytest.mark.parametrize("layout", ["long", "wide"])
@pytest.mark.parametrize("scope", ["all", "latest"])
def test_one_file_per_chunk_gives_the_same_bytes(hand_store, monkeypatch, layout, scope):
    query = ExportQuery(hand_store, workflow="harbour", scope=scope, layout=layout)
    whole = io.BytesIO()
    query.write_csv(whole)
    monkeypatch.setattr(chunks, "CHUNK_FILES", (1,))
    progress = []
    chunked = io.BytesIO()
    query.write_csv(chunked, progress=lambda done, total: progress.append((done, total)))
    assert chunked.getvalue() == whole.getvalue()
    files = len(query.file_ids())
    assert progress == [(done, files) for done in range(1, files + 1)]


def test_a_preview_across_chunks_is_the_start_of_the_download(hand_store, monkeypatch):
    monkeypatch.setattr(chunks, "PREVIEW_CHUNK_FILES", (1,))
    query = ExportQuery(hand_store, workflow="harbour", scope="all")
    full = query.frame()
    for n in (1, 7, 8, 9, len(full), len(full) + 5):
        assert query.preview(n).equals(full.head(n))


def test_file_chunks_grow_and_cover_every_file():
    ids = list(range(2000))
    seen = list(file_chunks(ids))
    assert [len(chunk) for _, chunk in seen] == [16, 128, 1024, 2000 - 16 - 128 - 1024]
    assert [done for done, _ in seen] == [16, 144, 1168, 2000]
    assert sum((chunk for _, chunk in seen), []) == ids
    assert [len(c) for c in record_chunks(iter(range(200)))] == [16, 128, 56]
    assert list(file_chunks([])) == [] and list(record_chunks([])) == []
    preview = [len(c) for c in record_chunks(range(3000), chunks.PREVIEW_CHUNK_FILES)]
    assert preview == [16, 32, 64, 128, 256, 512, 1024, 968]


def test_a_preview_reads_doubling_chunks_and_stops_at_its_rows(hand_store, monkeypatch):
    """A preview whose first chunk lacks its rows reads the next, smaller than a download's
    next, and no chunk after the one that completes its rows."""
    monkeypatch.setattr(chunks, "PREVIEW_CHUNK_FILES", (1, 2))
    read = []
    reading = chunks.read_long

    def counted(reader, scope, file_ids):
        read.append(len(file_ids))
        return reading(reader, scope, file_ids)

    monkeypatch.setattr("dashboard.query.selection.read_long", counted)
    query = ExportQuery(hand_store, workflow="harbour", scope="all")
    full = query.frame()
    read.clear()
    first_file = len(query.preview(1))
    assert first_file == 1 and read == [1]
    read.clear()
    assert query.preview(len(full)).equals(full)
    assert len(query.file_ids()) == 3 and read == [1, 2]


def test_read_ahead_keeps_order_and_reads_one_ahead():
    read = []

    def source():
        for item in range(5):
            read.append(item)
            yield item

    consumed = []
    for item in read_ahead(source()):
        consumed.append(item)
        # the thread may read at most the next item plus one waiting to be put
        assert len(read) <= item + 3
    assert consumed == read == list(range(5))


def test_read_ahead_hands_errors_to_the_consumer_in_order():
    def source():
        yield 1
        raise ValueError("the database went away")

    received = []
    with pytest.raises(ValueError, match="went away"):
        for item in read_ahead(source()):
            received.append(item)
    assert received == [1]


def test_a_consumer_that_stops_early_stops_the_thread():
    closed = threading.Event()

    def source():
        try:
            yield from range(1000)
        finally:
            closed.set()

    stream = read_ahead(source(), name="stops-early")
    assert next(stream) == 0
    assert any(t.name == "stops-early" and t.is_alive() for t in threading.enumerate())
    stream.close()
    assert not any(t.name == "stops-early" and t.is_alive() for t in threading.enumerate())
    assert closed.wait(5)


@pytest.mark.postgres
def test_postgresql_export_connections_cost_random_pages_as_on_ssd(pg_schema_url, tmp_path):
    from sqlalchemy import func, select

    from dashboard.query.reader import RANDOM_PAGE_COST, ArrowReader
    from dashboard.store.db import open_store

    store = open_store(db_url=pg_schema_url, files_url=str(tmp_path / "files"))
    with ArrowReader(store.engine) as reader:
        [batch] = reader.batches(select(func.current_setting("random_page_cost").label("cost")))
    assert float(batch.column("cost")[0].as_py()) == RANDOM_PAGE_COST
    with store.engine.connect() as connection:  # the app's own connections keep the default
        assert connection.scalar(select(func.current_setting("random_page_cost"))) == "4"
    store.dispose()


def test_batches_whose_types_were_inferred_apart_make_one_table(hand_store, monkeypatch):
    """Small reads go through fetchmany, which infers each batch's types from its values: a
    batch of entity-level values only has null annotation ids and frames. One row per batch
    makes every such batch."""
    from dashboard.query import reader

    query = ExportQuery(hand_store, workflow="harbour", scope="all", spreadsheet_safe=False)
    expected = query.preview(1000)
    monkeypatch.setattr(reader, "BATCH_ROWS", 1)
    assert query.preview(1000).equals(expected)


def test_a_value_stored_apart_from_its_annotation_is_an_error_not_a_blank_frame(hand_store):
    """The writer keeps an annotation's values on its assessment; a store written around it
    that breaks this gets a clear error instead of a value row without its frame."""
    from sqlalchemy import select, update

    from dashboard.errors import StoreIntegrityError
    from dashboard.store.models import Assessment, AttributeValue

    with hand_store.session() as session:
        value = session.scalars(
            select(AttributeValue).where(AttributeValue.annotation_id.is_not(None))
        ).first()
        other = session.scalar(
            select(Assessment.id).where(Assessment.id != value.assessment_id).limit(1)
        )
        session.execute(
            update(AttributeValue).where(AttributeValue.id == value.id).values(assessment_id=other)
        )
    query = ExportQuery(hand_store, workflow="harbour", scope="all")
    with pytest.raises(StoreIntegrityError, match="is stored with assessment"):
        query.write_csv(io.BytesIO())
    # The dashboard says so in place of the preview.
    from dashboard.web.ui.admin import AdminTab

    tab = AdminTab(store=hand_store, workflow="harbour", user="local")
    tab.scope.value = "all"
    assert "is stored with assessment" in tab.summary.object


class _HangUp(io.RawIOBase):
    """A download whose client goes away after the header and the first chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.writes += 1
        if self.writes > 2:
            raise ConnectionResetError("the client went away")
        return len(data)


def test_a_download_stopped_midway_stops_reading_and_the_next_one_works(hand_store, monkeypatch):
    from datetime import datetime

    from dashboard.store import writer
    from tests.hand_workflow import image_bytes

    with hand_store.session() as session:  # more files, so that there is an "on to the end"
        workflow = hand_store.workflow(session, "harbour")
        source = writer.data_source(session, "cam-1")
        for index in range(8):
            case = writer.case(session, workflow, f"extra-{index}")
            name = f"extra-{index}.png"
            data_file = writer.add_file(
                session, hand_store.files, case, source, name, image_bytes(8, 8, "PNG")
            )
            writer.add_assessment(
                session, data_file, "review", "human", "anna", datetime(2026, 11, 5)
            )
    monkeypatch.setattr(chunks, "CHUNK_FILES", (1,))  # a chunk per file: the thread reads ahead
    query = ExportQuery(hand_store, workflow="harbour", scope="all")
    expected = io.BytesIO()
    query.write_csv(expected)
    read = []
    original = chunks.read_long
    monkeypatch.setattr(
        "dashboard.query.selection.read_long",
        lambda *args: read.append(args[2]) or original(*args),
    )
    with pytest.raises(ConnectionResetError):
        query.write_csv(_HangUp())
    assert len(read) >= 2  # the first chunk was written while the thread read the next
    assert not any(t.name == "export-prefetch" and t.is_alive() for t in threading.enumerate())
    # Two chunks reached the writer; at most one more waited in the queue and one was being
    # read when it stopped: nothing is read after that.
    assert len(read) <= 4 < len(query.file_ids())
    again = io.BytesIO()
    query.write_csv(again)
    assert again.getvalue() == expected.getvalue()
