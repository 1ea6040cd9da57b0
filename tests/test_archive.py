"""Files ZIP: member names (SPEC 3.4), de-duplication, and the streaming writer."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.produce.archive import (
    CHUNK,
    MANIFEST_NAME,
    ArchiveIncompleteError,
    ZipStreamWriter,
    ZipSummary,
    files_members,
    is_compressible,
    preview_member_names,
    write_files_zip,
)
from dashboard.spec.naming import member_name, suffix_of, unique_names
from dashboard.spec.records import FileRecord
from dashboard.store.files import FileStorage

JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def record(
    file_id: int = 1,
    external_id: str = "3112442",
    workflow: str = "harbour-inspection",
    workflow_order: str | None = "8492192",
    count: int = 1,
    file_name: str = "IMG_0001.JPG",
    content_type: str = "image/jpeg",
    byte_size: int = 0,
    sha256: str = "",
    storage_key: str = "00/missing.jpg",
) -> FileRecord:
    return FileRecord(
        file_id=file_id,
        external_id=external_id,
        workflow=workflow,
        workflow_order=workflow_order,
        data_source="camera-1",
        count=count,
        file_name=file_name,
        content_type=content_type,
        width=64,
        height=48,
        byte_size=byte_size,
        sha256=sha256,
        storage_key=storage_key,
    )


def names_of(records) -> list[str]:
    return [name for _, name in files_members(records)]


class WriteOnly:
    """A non-seekable output: only write() and flush(), like a pipe or a response body."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.flushed = 0

    def write(self, data) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        self.flushed += 1

    def getvalue(self) -> bytes:
        return bytes(self._buffer)


class Trickle(WriteOnly):
    """A raw stream that takes at most 1000 bytes per call (partial writes)."""

    def write(self, data) -> int:
        taken = bytes(memoryview(data)[:1000])
        self._buffer += taken
        return len(taken)


def safe(name: str) -> bool:
    return (
        "/" not in name
        and "\\" not in name
        and ".." not in name
        and not any(unicodedata.category(c).startswith("C") for c in name)
        and not name.startswith((".", "-"))
        and len(name.encode("utf-8")) <= 255
    )


# --------------------------------------------------------------------------- naming


def test_all_digit_external_id_is_padded_to_12_digits():
    assert names_of([record()]) == ["000003112442_8492192_1.jpg"]
    assert member_name("3112442", "8492192", 1, "jpg") == "000003112442_8492192_1.jpg"


def test_no_member_name_starts_with_a_dash_or_a_dot():
    assert member_name("-rf", "o", 1, "jpg") == "_-rf_o_1.jpg"
    assert member_name("/etc/passwd", "o", 1, "jpg") == "_-etc-passwd_o_1.jpg"
    assert member_name(".hidden", "o", 1, "jpg") == "_-hidden_o_1.jpg"
    assert member_name("", "o", 1, "jpg") == "_-_o_1.jpg"
    assert member_name("A-7", "o", 1, "jpg") == "A-7_o_1.jpg"


def test_longer_all_digit_id_and_non_digit_ids_are_not_padded():
    assert member_name("1234567890123", "o", 2, "png") == "1234567890123_o_2.png"
    assert member_name("A-17", "o", 2, "png") == "A-17_o_2.png"
    # Only ASCII digits count as "all-digit".
    assert member_name("١٢٣", "o", 1, "png") == "١٢٣_o_1.png"


def test_file_in_no_order_uses_the_workflow_name():
    rec = record(workflow_order=None, workflow="Harbour inspection")
    assert names_of([rec]) == ["000003112442_Harbour-inspection_1.jpg"]


def test_suffix_is_lower_case_and_taken_from_the_original_name():
    assert names_of([record(file_name="photo.final.JPEG")]) == ["000003112442_8492192_1.jpeg"]
    assert member_name("x", "o", 1, ".PNG") == "x_o_1.png"
    assert member_name("x", "o", 1, "") == "x_o_1"
    assert names_of([record(file_name="README")]) == ["000003112442_8492192_1"]
    assert suffix_of(".hidden") == ""
    assert suffix_of("C:\\Users\\me\\a.Tif") == "Tif"
    assert suffix_of("a.") == ""
    assert member_name("x", "o", 1, "../../x") == "x_o_1.x"
    assert member_name("x", "o", 1, "..") == "x_o_1"
    assert member_name("x", "o", 1, "tar gz!") == "x_o_1.tar-gz"


def test_stage_goes_in_the_name():
    assert member_name("3112442", "8492192", 1, "jpg", stage="human") == (
        "000003112442_8492192_1_human.jpg"
    )
    assert member_name("3112442", "8492192", 1, "jpg", stage="QA review #2") == (
        "000003112442_8492192_1_QA-review--2.jpg"
    )


def test_clashes_get_tilde_2_and_tilde_3():
    records = [record(file_id=i) for i in (1, 2, 3)] + [record(file_id=4, count=2)]
    assert names_of(records) == [
        "000003112442_8492192_1.jpg",
        "000003112442_8492192_1~2.jpg",
        "000003112442_8492192_1~3.jpg",
        "000003112442_8492192_2.jpg",
    ]


def test_clash_detection_ignores_case_and_normalisation():
    assert list(unique_names(["A_b_1.jpg", "a_B_1.JPG", "ü_x_1", "u\u0308_x_1"])) == [
        "A_b_1.jpg",
        "a_B_1~2.JPG",
        "ü_x_1",
        "u\u0308_x_1~2",
    ]


def test_generated_name_that_clashes_keeps_counting():
    assert list(unique_names(["a_b_1.jpg", "a_b_1~2.jpg", "a_b_1.jpg", "a_b_1.jpg"])) == [
        "a_b_1.jpg",
        "a_b_1~2.jpg",
        "a_b_1~3.jpg",
        "a_b_1~4.jpg",
    ]


def test_dot_in_a_part_is_not_taken_for_the_suffix():
    assert list(unique_names(["v1.2_o_1", "v1.2_o_1"])) == ["v1.2_o_1", "v1.2_o_1~2"]


def test_manifest_name_is_reserved():
    assert list(unique_names(["manifest.json"], reserved=[MANIFEST_NAME])) == ["manifest~2.json"]


@pytest.mark.parametrize(
    ("external_id", "expected"),
    [
        ("../../etc/x", "_----etc-x_8492192_1.jpg"),
        ("a\\b", "a-b_8492192_1.jpg"),
        ("a\x00b", "a-b_8492192_1.jpg"),
        ("a\nb\r\t", "a-b_8492192_1.jpg"),
        ("..", "_-_8492192_1.jpg"),
        (".", "_-_8492192_1.jpg"),
        ("", "_-_8492192_1.jpg"),
        ("   ", "_-_8492192_1.jpg"),
        (".hidden", "_-hidden_8492192_1.jpg"),
        ("evil\u202egpj.exe", "evil-gpj.exe_8492192_1.jpg"),
        ("a b:c*d?e", "a-b-c-d-e_8492192_1.jpg"),
        ("C:/Windows", "C--Windows_8492192_1.jpg"),
    ],
)
def test_hostile_external_ids_become_safe_names(external_id, expected):
    name = names_of([record(external_id=external_id)])[0]
    assert name == expected
    assert safe(name)


def test_hostile_order_name_and_file_name():
    rec = record(workflow_order="../..\\x", file_name="x.jpg/../../../etc/passwd")
    (name,) = names_of([rec])
    assert safe(name)
    assert name == "000003112442_----x_1"  # suffix_of("passwd") == "": no suffix


def test_non_ascii_names_survive_in_nfc():
    assert member_name("Müller-Ø", "Überprüfung", 1, "jpg") == "Müller-Ø_Überprüfung_1.jpg"
    assert member_name("Mu\u0308ller", "東京", 1, "jpg") == "Müller_東京_1.jpg"


def test_long_parts_are_capped_in_utf8_bytes():
    name = member_name("é" * 500, "東" * 500, 10**12, "jpeg" * 20, stage="x" * 500)
    assert safe(name)
    assert len(name.encode("utf-8")) <= 240


_any_text = st.text(st.characters(codec="utf-8"), max_size=80)


@settings(max_examples=300, deadline=None)
@given(_any_text, _any_text, st.integers(min_value=0, max_value=10**9), _any_text, _any_text)
def test_any_input_gives_a_safe_name(external_id, order, count, suffix, stage):
    for name in (
        member_name(external_id, order, count, suffix),
        member_name(external_id, order, count, suffix, stage=stage),
    ):
        assert safe(name), name
        assert name == unicodedata.normalize("NFC", name)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            member_name,
            st.sampled_from(["1", "01", "A", "a", "ä", "a\u0308", "x.y", "x~2"]),
            st.sampled_from(["o", "O", "o~2"]),
            st.integers(1, 3),
            st.sampled_from(["jpg", "JPG", "", "png"]),
        )
        | st.sampled_from(["a_o_1~2.jpg", "A_O_1~2~2.JPG", "manifest.json", "x", "X~2"]),
        max_size=60,
    )
)
def test_unique_names_are_unique_and_deterministic(names):
    first = list(unique_names(names, reserved=[MANIFEST_NAME]))
    assert first == list(unique_names(names, reserved=[MANIFEST_NAME]))
    assert len(first) == len(names)
    keys = [unicodedata.normalize("NFC", n).casefold() for n in first]
    assert len(set(keys)) == len(keys)
    assert MANIFEST_NAME not in keys
    seen: set[str] = {MANIFEST_NAME}
    for original, made in zip(names, first, strict=True):
        key = unicodedata.normalize("NFC", original).casefold()
        if key not in seen:
            assert made == original  # the first occurrence keeps its name
        seen.add(unicodedata.normalize("NFC", made).casefold())


def test_preview_names_are_the_archive_names(tmp_path):
    storage = FileStorage(str(tmp_path / "files"))
    records = stored_records(storage, [b"a", b"b", b"c"], external_ids=["7", "7", "8"])
    preview = preview_member_names(records, 2)
    assert preview == [("000000000007_8492192_1.jpg", 1), ("000000000007_8492192_1~2.jpg", 1)]
    out = WriteOnly()
    write_files_zip(records, storage, out, filters={}, tool_version="t")
    names = zipfile.ZipFile(io.BytesIO(out.getvalue())).namelist()
    assert names[:2] == [name for name, _ in preview]
    assert preview_member_names(records, 0) == []


def test_compression_choice():
    assert not is_compressible("a.JPG", "image/jpeg")
    assert not is_compressible("a.bin", "image/png")
    assert not is_compressible("a.webp", "application/octet-stream")
    assert is_compressible("a.txt", "text/plain")
    assert is_compressible("a.svg", "image/svg+xml")
    assert is_compressible("a.bmp", "image/bmp")


# --------------------------------------------------------------------------- writing


def jpeg_like(size: int, seed: int) -> bytes:
    body = hashlib.shake_256(seed.to_bytes(8, "big")).digest(max(size - len(JPEG_HEADER), 0))
    return JPEG_HEADER + body


def stored_records(
    storage: FileStorage,
    payloads: list[bytes],
    *,
    external_ids: list[str] | None = None,
    file_names: list[str] | None = None,
) -> list[FileRecord]:
    records = []
    for i, data in enumerate(payloads):
        name = file_names[i] if file_names else f"IMG_{i:04d}.JPG"
        key, digest = storage.put_image(data, "." + (suffix_of(name).lower() or "bin"))
        records.append(
            record(
                file_id=100 + i,
                external_id=external_ids[i] if external_ids else str(3112442 + i),
                count=1,
                file_name=name,
                content_type="image/jpeg" if name.upper().endswith(".JPG") else "text/plain",
                byte_size=len(data),
                sha256=digest,
                storage_key=key,
            )
        )
    return records


@pytest.fixture
def storage(tmp_path) -> FileStorage:
    return FileStorage(str(tmp_path / "files"))


def test_write_files_zip_to_a_non_seekable_stream(storage):
    payloads = [jpeg_like(5000, 1), jpeg_like(70_000, 2), b"plain text\n" * 500]
    records = stored_records(
        storage, payloads, file_names=["a.JPG", "Überblick.jpg", "notes.txt"]
    ) + [record(file_id=999, external_id="42", file_name="gone.jpg", storage_key="zz/nope.jpg")]
    out = WriteOnly()
    assert not hasattr(out, "tell") and not hasattr(out, "seek")
    calls = []
    summary = write_files_zip(
        records,
        storage,
        out,
        filters={"order": "8492192", "data_source": None},
        tool_version="1.2.3",
        progress=lambda done, total: calls.append((done, total)),
    )
    data = out.getvalue()
    assert summary == ZipSummary(members=3, unreadable=1, bytes_written=len(data))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert out.flushed >= 1

    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    infos = archive.infolist()
    assert [i.filename for i in infos] == [
        "000003112442_8492192_1.jpg",
        "000003112443_8492192_1.jpg",
        "000003112444_8492192_1.txt",
        MANIFEST_NAME,
    ]
    assert [i.compress_type for i in infos] == [
        zipfile.ZIP_STORED,
        zipfile.ZIP_STORED,
        zipfile.ZIP_DEFLATED,
        zipfile.ZIP_DEFLATED,
    ]
    for info, payload in zip(infos, payloads, strict=False):
        assert archive.read(info) == payload
        assert info.date_time == (1980, 1, 1, 0, 0, 0)

    manifest = json.loads(archive.read(MANIFEST_NAME).decode("utf-8"))
    assert list(manifest) == ["tool", "version", "layout", "filters", "members", "unreadable"]
    assert manifest["tool"] == "assessment-export-dashboard"
    assert manifest["version"] == "1.2.3"
    assert manifest["layout"] == "files"
    assert manifest["filters"] == {"data_source": None, "order": "8492192"}
    assert [m["name"] for m in manifest["members"]] == [i.filename for i in infos[:3]]
    for member, payload, rec in zip(manifest["members"], payloads, records, strict=False):
        assert member == {
            "name": member["name"],
            "file_id": rec.file_id,
            "original_name": rec.file_name,
            "byte_size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
    (missing,) = manifest["unreadable"]
    assert missing["file_id"] == 999
    assert missing["original_name"] == "gone.jpg"
    assert missing["name"] == "000000000042_8492192_1.jpg"
    assert "zz/nope.jpg" in missing["error"]
    assert missing["name"] not in archive.namelist()
    assert "Überblick.jpg" in manifest["members"][1]["original_name"]


def test_non_ascii_member_name_is_utf8_flagged(storage):
    records = stored_records(storage, [b"x"], external_ids=["Müller"])
    out = WriteOnly()
    write_files_zip(records, storage, out, filters={}, tool_version="t")
    info = zipfile.ZipFile(io.BytesIO(out.getvalue())).infolist()[0]
    assert info.filename == "Müller_8492192_1.jpg"
    assert info.flag_bits & 0x800
    assert "Müller_8492192_1.jpg".encode() in out.getvalue()


def test_identical_inputs_give_identical_bytes_on_any_stream(storage):
    records = stored_records(storage, [jpeg_like(3000, i) for i in range(5)])
    outputs = []
    for out, threaded in ((WriteOnly(), True), (WriteOnly(), True), (io.BytesIO(), False)):
        write_files_zip(
            records, storage, out, filters={"b": 1, "a": 2}, tool_version="9", hash_thread=threaded
        )
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] == outputs[2]


def test_member_larger_than_a_chunk_streams(storage):
    payload = jpeg_like(2 * CHUNK + 12345, 7)
    records = stored_records(storage, [payload])
    for read_ahead in (1, 8 << 20):
        out = WriteOnly()
        summary = write_files_zip(
            records, storage, out, filters={}, tool_version="t", read_ahead=read_ahead
        )
        archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
        assert archive.testzip() is None
        assert archive.read(archive.namelist()[0]) == payload
        assert summary.members == 1
        assert summary.bytes_written > len(payload)


def test_partial_writes_and_a_generator_of_records(storage):
    payloads = [jpeg_like(40_000, i) for i in range(3)]
    records = stored_records(storage, payloads)
    out = Trickle()
    calls = []
    summary = write_files_zip(
        (r for r in records),
        storage,
        out,
        filters={},
        tool_version="t",
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (3, None)
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    assert [archive.read(n) for n in archive.namelist()[:3]] == payloads
    assert summary.bytes_written == len(out.getvalue())


def test_stored_sha256_mismatch_is_recorded(storage):
    (rec,) = stored_records(storage, [b"real bytes"])
    lying = record(
        file_id=rec.file_id,
        byte_size=99,
        sha256="0" * 64,
        storage_key=rec.storage_key,
    )
    out = WriteOnly()
    summary = write_files_zip([lying], storage, out, filters={}, tool_version="t")
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(out.getvalue())).read(MANIFEST_NAME))
    (member,) = manifest["members"]
    assert member["sha256"] == hashlib.sha256(b"real bytes").hexdigest()
    assert member["stored_sha256"] == "0" * 64
    assert member["sha256_mismatch"] is True
    assert member["byte_size"] == 10
    assert member["stored_byte_size"] == 99
    assert summary.sha256_mismatches == 1


def test_invalid_storage_key_is_unreadable_not_fatal(storage):
    records = stored_records(storage, [b"ok"]) + [record(file_id=5, storage_key="../../etc/passwd")]
    out = WriteOnly()
    summary = write_files_zip(records, storage, out, filters={}, tool_version="t")
    assert (summary.members, summary.unreadable) == (1, 1)
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    assert archive.testzip() is None
    assert json.loads(archive.read(MANIFEST_NAME))["unreadable"][0]["file_id"] == 5


class FailingFile(io.RawIOBase):
    """Returns one chunk, then fails like a dropped network connection."""

    def __init__(self) -> None:
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 1:
            return b"\xff\xd8" + b"x" * (CHUNK - 2)
        raise ConnectionResetError("connection reset by peer")


class FlakyStorage(FileStorage):
    def open(self, key: str):
        if key == "flaky":
            return FailingFile()
        return super().open(key)


def test_failure_after_a_member_started_breaks_the_archive_visibly(tmp_path):
    storage = FlakyStorage(str(tmp_path / "files"))
    records = stored_records(storage, [b"first"]) + [
        record(file_id=2, external_id="2", storage_key="flaky", byte_size=5 * CHUNK)
    ]
    # Within the read-ahead window, the failure only makes the file unreadable.
    out = WriteOnly()
    summary = write_files_zip(records, storage, out, filters={}, tool_version="t")
    assert (summary.members, summary.unreadable) == (1, 1)
    assert zipfile.ZipFile(io.BytesIO(out.getvalue())).testzip() is None

    # After the member started, the archive is left visibly incomplete and an error raised.
    out = WriteOnly()
    with pytest.raises(ArchiveIncompleteError, match="connection reset"):
        write_files_zip(records, storage, out, filters={}, tool_version="t", read_ahead=1)
    assert out.getvalue()  # the first member went out...
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(out.getvalue()))  # ...but there is no central directory


def test_output_error_propagates_and_stops_writing():
    class Broken(WriteOnly):
        def write(self, data) -> int:
            if len(self._buffer) > 100:
                raise BrokenPipeError("client went away")
            return super().write(data)

    out = Broken()
    writer = ZipStreamWriter(out)
    with pytest.raises(BrokenPipeError), writer:
        writer.add_bytes("a.bin", os.urandom(50_000), compress=False)
    assert writer.closed


def test_stream_writer_rejects_unsafe_and_duplicate_names():
    writer = ZipStreamWriter(WriteOnly())
    writer.add_bytes("a.jpg", b"x", compress=False)
    for bad in ("A.JPG", "/abs", "../x", "a\\b", "", "dir/", "a\nb", "a\x00b"):
        with pytest.raises(ValueError):
            writer.add_bytes(bad, b"x", compress=False)
    writer.close()


def test_zip64_member_of_unknown_size_and_info_zip_agrees(tmp_path):
    payload = jpeg_like(CHUNK + 1, 3)
    path = tmp_path / "out.zip"
    with path.open("wb") as fh:
        writer = ZipStreamWriter(fh)
        pieces = (payload[i : i + 4096] for i in range(0, len(payload), 4096))
        info = writer.add_stream("big_o_1.jpg", pieces, compress=False, size_hint=None)
        writer.add_bytes("Ärger_o_1.txt", b"hello " * 1000, compress=True)
        writer.close({"k": "v"})
    assert info.byte_size == len(payload)
    assert info.sha256 == hashlib.sha256(payload).hexdigest()
    archive = zipfile.ZipFile(path)
    assert archive.testzip() is None
    assert archive.read("big_o_1.jpg") == payload
    if shutil.which("unzip"):
        result = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_info_zip_reads_a_files_archive(storage, tmp_path):
    if not shutil.which("unzip"):
        pytest.skip("Info-ZIP unzip is not installed")
    records = stored_records(
        storage, [jpeg_like(CHUNK * 2, 1), b"text " * 100], file_names=["a.jpg", "b.txt"]
    )
    path = Path(tmp_path / "files.zip")
    with path.open("wb") as fh:
        write_files_zip(records, storage, fh, filters={}, tool_version="t")
    result = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
