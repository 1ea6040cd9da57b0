"""Starting with your own data from the command line: create-workflow from a taxonomy file,
import-coco into it, and import-coco --create with the taxonomy inferred from the file."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from dashboard.cli import main
from dashboard.export import ExportQuery
from dashboard.store.db import open_store

TAXONOMY = """\
description: Quay cameras
object_classes:
  - vessel
  - {name: buoy, colour: "#FF8800"}
attributes:
  - {name: severity, type: enum, options: [low, high]}
  - {name: length_m, type: decimal}
orders: ["8492192"]
"""


@pytest.fixture
def empty_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSESS_DATA_DIR", str(tmp_path / "data"))
    for name in ("ASSESS_DB_URL", "ASSESS_FILES_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def coco_files(folder, attributes: dict) -> tuple:
    images = folder / "images"
    images.mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 60, 110)).save(buffer, "PNG")
    (images / "a.png").write_bytes(buffer.getvalue())
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 3, "name": "vessel"}, {"id": 1, "name": "buoy"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 30, 20], "score": 0.9,
             "attributes": attributes},
        ],
    }  # fmt: skip
    path = folder / "coco.json"
    path.write_text(json.dumps(coco))
    return path, images


def _import(path, images, *extra) -> int:
    return main(["import-coco", "quay", str(path), str(images), "--stage", "detector",
                 "--stage-kind", "machine", "--assessed-by", "det@1", "--order", "8492192",
                 *extra])  # fmt: skip


def test_create_workflow_from_a_taxonomy_file_then_import_coco_into_it(empty_dir, capsys):
    taxonomy = empty_dir / "taxonomy.yaml"
    taxonomy.write_text(TAXONOMY)
    assert main(["create-workflow", "quay", str(taxonomy)]) == 0
    assert "workflow 'quay' created: 2 object classes, 2 attributes, 1 orders" in (
        capsys.readouterr().out
    )
    path, images = coco_files(empty_dir, {"severity": "high", "length_m": 12.5})
    assert _import(path, images) == 0
    store = open_store()
    with store.session() as session:
        workflow = store.workflow(session, "quay")
        assert [(k.name, k.colour) for k in workflow.object_classes][1] == ("buoy", "#ff8800")
        assert [(a.name, str(a.value_type)) for a in workflow.attributes] == [
            ("severity", "enum"), ("length_m", "decimal")]  # fmt: skip
        assert workflow.description == "Quay cameras"
    frame = ExportQuery(store, workflow="quay").frame()
    assert dict(zip(frame["attribute"], frame["value"], strict=True))["severity"] == "high"
    store.dispose()


def test_import_coco_create_infers_the_taxonomy_from_the_file(empty_dir, capsys):
    path, images = coco_files(empty_dir, {"flagged": True, "count": 3, "note": "rust"})
    assert _import(path, images) == 2  # no such workflow: a clear error, nothing created
    assert "quay" in capsys.readouterr().err
    assert _import(path, images, "--create") == 0
    store = open_store()
    with store.session() as session:
        workflow = store.workflow(session, "quay")
        assert [k.name for k in workflow.object_classes] == ["vessel", "buoy"]
        assert [(a.name, str(a.value_type)) for a in workflow.attributes] == [
            ("flagged", "boolean"), ("count", "integer"), ("note", "string")]  # fmt: skip
    assert ExportQuery(store, workflow="quay").counts().attribute_values == 3
    store.dispose()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("object_classes: []", "'object_classes' is a list of at least one class"),
        ("object_classes: [a]\nattributes: [{name: s, type: enum}]", "an enum needs a list"),
        ("object_classes: [{name: a, colour: red}]", "colour is #rrggbb, got 'red'"),
        ("object_classes: [a]\nattributes: [{name: s, type: text}]", "type is one of"),
        ("object_classes: [a]\nclasses: [b]", "unknown key 'classes'"),
        ("object_classes: [a, a]", "repeated object class names: a"),
        ("object_classes: [a\n", "not valid YAML"),
    ],
)
def test_a_bad_taxonomy_file_exits_2_naming_the_mistake_and_creates_nothing(
    empty_dir, capsys, text, message
):
    taxonomy = empty_dir / "taxonomy.yaml"
    taxonomy.write_text(text)
    assert main(["create-workflow", "quay", str(taxonomy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("assess-export: error: ") and err.count("\n") == 1, err
    assert message in err
    store = open_store()
    assert store.workflow_names() == []
    store.dispose()
