"""File storage: content-addressed bytes in a local folder and in an S3-compatible store.

The S3 tests talk to moto's standalone server on loopback over real HTTP, through s3fs.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from dashboard.errors import MissingImageError
from dashboard.store import writer
from dashboard.store.db import open_store
from dashboard.store.files import FileStorage

CREDENTIALS = {"key": "testing", "secret": "testing"}


def png_bytes(width: int = 6, height: int = 4) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def key_of(data: bytes, suffix: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}{suffix}"


# --- a local folder ---------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path) -> FileStorage:
    return FileStorage(str(tmp_path / "files"))


def test_local_folder_is_created(tmp_path):
    FileStorage(str(tmp_path / "new" / "files") + "/")
    assert (tmp_path / "new" / "files").is_dir()


def test_put_image_is_content_addressed_and_stored_once(local, tmp_path):
    data = b"\xff\xd8 not really a jpeg \x00\x01"
    key, digest = local.put_image(data, ".JPG")
    assert digest == hashlib.sha256(data).hexdigest()
    assert key == f"{digest[:2]}/{digest}.jpg"
    path = tmp_path / "files" / digest[:2] / f"{digest}.jpg"
    assert path.read_bytes() == data
    mtime = path.stat().st_mtime_ns
    assert local.put_image(data, ".jpg") == (key, digest)
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / "files").rglob("*") if p.is_file()) == [path.name]


def test_put_read_exists_and_chunks(local):
    data = bytes(range(256)) * 40
    local.put("nested/deeper/blob.bin", data)
    assert local.exists("nested/deeper/blob.bin")
    assert not local.exists("nested/deeper/other.bin")
    assert local.read("nested/deeper/blob.bin") == data
    chunks = list(local.iter_chunks("nested/deeper/blob.bin", chunk_size=1000))
    assert [len(c) for c in chunks] == [1000] * 10 + [240]
    assert b"".join(chunks) == data
    with local.open("nested/deeper/blob.bin") as fh:
        assert fh.read(3) == b"\x00\x01\x02"


def test_put_overwrites_a_key(local):
    local.put("k.bin", b"first")
    local.put("k.bin", b"second")
    assert local.read("k.bin") == b"second"


def test_a_failed_put_leaves_no_file_behind(local, tmp_path):
    with pytest.raises(TypeError):
        local.put("ab/broken.jpg", "text is not bytes")
    assert not local.exists("ab/broken.jpg")
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_missing_key_is_a_missing_image(local):
    with pytest.raises(MissingImageError, match="image bytes not found in storage: aa/none.jpg"):
        local.read("aa/none.jpg")
    with pytest.raises(MissingImageError):
        list(local.iter_chunks("aa/none.jpg"))


@pytest.mark.parametrize("key", ["../outside.jpg", "ab/../../outside.jpg", "/etc/passwd", ".."])
def test_invalid_keys_are_rejected(local, tmp_path, key):
    for call in (
        lambda: local.put(key, b"x"),
        lambda: local.read(key),
        lambda: local.exists(key),
    ):
        with pytest.raises(ValueError, match="invalid storage key"):
            call()
    assert not (tmp_path / "outside.jpg").exists()


# --- S3 through moto's standalone server on loopback --------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"images-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def object_keys(endpoint: str, bucket: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_s3_storage_round_trips_image_bytes(s3_endpoint, bucket):
    storage = FileStorage(f"s3://{bucket}/prefix", endpoint_url=s3_endpoint, **CREDENTIALS)
    data = png_bytes() + bytes(range(256)) * 4096  # > 1 MiB: several chunks
    key, digest = storage.put_image(data, ".PNG")
    assert key == key_of(data, ".png")
    assert digest == hashlib.sha256(data).hexdigest()
    assert object_keys(s3_endpoint, bucket) == [f"prefix/{key}"]
    stored = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=f"prefix/{key}")["Body"].read()
    assert stored == data
    assert storage.exists(key)
    assert storage.read(key) == data
    chunks = list(storage.iter_chunks(key, chunk_size=1 << 20))
    assert [len(c) for c in chunks] == [1 << 20, len(data) - (1 << 20)]
    assert b"".join(chunks) == data
    assert storage.put_image(data, ".png") == (key, digest)
    assert object_keys(s3_endpoint, bucket) == [f"prefix/{key}"]


def test_s3_storage_reads_bytes_written_by_another_client(s3_endpoint, bucket):
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key="root/ab/outside.bin", Body=b"\x00abc")
    storage = FileStorage(f"s3://{bucket}/root/", endpoint_url=s3_endpoint, **CREDENTIALS)
    assert storage.exists("ab/outside.bin")
    assert storage.read("ab/outside.bin") == b"\x00abc"


def test_s3_missing_key_is_a_missing_image(s3_endpoint, bucket):
    storage = FileStorage(f"s3://{bucket}/prefix", endpoint_url=s3_endpoint, **CREDENTIALS)
    assert not storage.exists("aa/none.jpg")
    with pytest.raises(MissingImageError, match="image bytes not found in storage: aa/none.jpg"):
        storage.read("aa/none.jpg")
    with pytest.raises(MissingImageError):
        list(storage.iter_chunks("aa/none.jpg"))
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.read("../other-prefix/x.jpg")


def test_open_store_keeps_image_bytes_in_s3(s3_endpoint, bucket, tmp_path):
    store = open_store(
        db_url=f"sqlite:///{tmp_path / 'store.db'}",
        files_url=f"s3://{bucket}/files",
        endpoint_url=s3_endpoint,
        **CREDENTIALS,
    )
    data = png_bytes(7, 5)
    try:
        with store.session() as session:
            workflow = writer.create_workflow(session, "harbour", ["vessel"])
            case = writer.case(session, workflow, "3112442")
            source = writer.data_source(session, "bucket-1", "bucket")
            data_file = writer.add_file(session, store.files, case, source, "IMG 1.png", data)
            key = data_file.storage_key
        assert key == key_of(data, ".png")
        assert object_keys(s3_endpoint, bucket) == [f"files/{key}"]
        assert not (tmp_path / "files").exists()
        assert store.files.read(key) == data
        assert (data_file.width, data_file.height, data_file.byte_size) == (7, 5, len(data))
    finally:
        store.dispose()


def test_a_place_that_cannot_keep_files_is_told_before_any_write(s3_endpoint, bucket, tmp_path):
    """``check_writable``: an existing bucket (a fresh prefix in it) or folder passes; a
    bucket that does not exist is an OSError naming it, and nothing is written anywhere."""
    FileStorage(
        f"s3://{bucket}/fresh/prefix", endpoint_url=s3_endpoint, **CREDENTIALS
    ).check_writable()
    FileStorage(str(tmp_path / "kept")).check_writable()
    missing = FileStorage("s3://no-such-bucket/exports", endpoint_url=s3_endpoint, **CREDENTIALS)
    with pytest.raises(FileNotFoundError, match="no-such-bucket"):
        missing.check_writable()
    assert object_keys(s3_endpoint, bucket) == []
