"""Importing a COCO JSON file as one assessment stage (machine or human) of a workflow.

The rules, in the order an analyst meets them:

- The file has ``images`` (id, file_name, width, height), ``categories`` (id, name) and,
  optionally, ``annotations`` (id, image_id, category_id, bbox and/or segmentation,
  optional ``score``, ``entity_id`` and CVAT-style ``attributes``). ``iscrowd`` and
  ``area`` are ignored.
- Every COCO image gets exactly one new assessment, even one without annotations (the
  stage looked and found nothing).
- An image whose ``file_name`` already names a file of the workflow (in ``order`` when
  one is given) gets its new assessment on that file: this is how a human stage is
  imported after a machine stage, and it needs no image bytes. Its stored size must equal
  the COCO size (unless unknown, 0x0: a file known only from a table). Otherwise the
  bytes are read from ``images_dir / file_name`` and the file becomes the next file of
  the case named by the image's ``external_id`` (default: the COCO image id); a case that
  already held files before this import is a conflict, not silently extended.
- Categories map to the workflow's object classes by name. A category no annotation uses
  may be unknown; one that is used must be known.
- Geometry: each polygon of a ``segmentation`` is one annotation of the same entity;
  without a segmentation the ``bbox`` is a box polygon. RLE masks are refused. Every
  coordinate must lie in ``[0, width] x [0, height]``; an overshoot of at most
  ``EDGE_TOLERANCE`` (float rounding) is clamped to the edge.
- ``score`` is the confidence of the location and of the object class; absent means none.
- Entities: an annotation is a new entity unless it carries ``entity_id`` (a UUID, at the
  top level or in ``attributes``); then that entity is kept, which ties a reviewer's
  annotation to the machine's detection.
- ``attributes`` are annotation-level values of the workflow's attributes of the same
  name (``None`` means not given). CVAT's own keys (occluded, rotation, keyframe,
  track_id) are skipped unless the workflow has such an attribute; any other unknown name
  is an error. A rotated CVAT box is refused: its bbox does not say where the object is.

Everything runs in one transaction and the whole file is checked before anything is
written, so a bad record imports nothing; each error names the record. Image bytes already
put into the (content-addressed) file storage before a failure are harmless and stay.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.errors import (
    AssessError,
    ImportRecordError,
    InvalidGeometryError,
    InvalidValueError,
    MissingImageError,
    UnknownChoiceError,
)
from dashboard.spec.geometry import Geometry, box, displayed_size, polygon
from dashboard.store import writer
from dashboard.store.db import Store
from dashboard.store.models import (
    Case,
    DataFile,
    DataSource,
    StageKind,
    Workflow,
    WorkflowOrder,
)
from dashboard.store.values import canonical_value

EDGE_TOLERANCE = 1e-6  # pixels a coordinate may overshoot the image (float rounding)
CVAT_OWN_ATTRIBUTES = frozenset({"occluded", "rotation", "keyframe", "track_id"})
ENTITY_KEY = "entity_id"
MAX_EXTERNAL_ID = 200  # column sizes of the models
MAX_FILE_NAME = 500
_CHUNK = 500  # names per IN (...) lookup

CocoId = int | str


@dataclass(frozen=True)
class ImportSummary:
    files_added: int  # new data files (their bytes were read from images_dir)
    files_matched: int  # existing data files that got a new assessment
    assessments: int  # one per COCO image
    annotations: int  # stored annotations (one per polygon)
    values: int  # stored attribute values


@dataclass(frozen=True)
class CocoImage:
    coco_id: CocoId
    file_name: str
    width: int
    height: int
    external_id: str
    label: str  # how error messages name it


@dataclass(frozen=True)
class CocoAnnotation:
    coco_id: CocoId
    label: str
    image_id: CocoId
    object_class: str
    shapes: tuple[Geometry, ...]
    score: float | None
    entity_id: str | None
    values: tuple[tuple[str, object], ...]  # (attribute name, raw value), taxonomy order


@dataclass(frozen=True)
class CocoDocument:
    images: tuple[CocoImage, ...]
    annotations: dict[CocoId, list[CocoAnnotation]]  # by image id, in file order


def import_coco(
    store: Store,
    workflow: str,
    coco_path: str | Path,
    images_dir: str | Path,
    *,
    stage: str,
    stage_kind: str,
    assessed_by: str,
    assessed_at: datetime | None = None,
    data_source: str = "coco-import",
    order: str | None = None,
    create: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import a COCO file as one assessment per image; all or nothing (see module docs).

    ``assessed_at`` defaults to now (UTC, whole seconds); a naive datetime is taken as UTC.
    ``create``: a workflow the store does not have is created in the same transaction, its
    taxonomy inferred from the file (``taxonomy_file.infer_from_coco``).
    ``progress(images written, images in all)`` is called as the images go in.
    """
    kind = _stage_kind(stage_kind)
    for name, text in (
        ("stage", stage),
        ("assessed_by", assessed_by),
        ("data_source", data_source),
    ):
        _require_text(name, text)
    if order is not None:
        _require_text("order", order)
    when = _utc_naive(assessed_at)
    coco_path = Path(coco_path)
    document = read_coco_json(coco_path)
    with store.importing() as session:
        if create and workflow not in store.workflow_names():
            from dashboard.store.taxonomy_file import infer_from_coco

            _require_text("workflow", workflow)
            spec = infer_from_coco(document, CVAT_OWN_ATTRIBUTES)
            writer.create_workflow_from(session, workflow, spec)
        workflow_ = store.workflow(session, workflow)
        taxonomy = writer.Taxonomy(workflow_)
        coco = parse_coco(document, taxonomy, source=coco_path.name)
        importer = _Importer(session, store, taxonomy, Path(images_dir), data_source)
        return importer.run(coco, order, stage, kind, assessed_by, when, progress)


def read_coco_json(path: Path) -> dict:
    """The parsed JSON object; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportRecordError(f"COCO file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ImportRecordError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ImportRecordError(f"cannot read COCO file {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportRecordError(
            f"{path.name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(document, dict):
        raise ImportRecordError(f"{path.name}: a COCO file is a JSON object with 'images'")
    return document


def parse_coco(
    document: dict, taxonomy: writer.Taxonomy, source: str = "COCO file"
) -> CocoDocument:
    """Check every record against the COCO shape and the workflow's taxonomy; no writes."""
    images = _parse_images(_list(document, "images", source, required=True))
    categories = _parse_categories(_list(document, "categories", source, required=True))
    by_image: dict[CocoId, list[CocoAnnotation]] = {image.coco_id: [] for image in images}
    by_id = {image.coco_id: image for image in images}
    seen: set[CocoId] = set()
    for index, raw in enumerate(_list(document, "annotations", source, required=False)):
        annotation = _parse_annotation(raw, index, by_id, categories, taxonomy)
        if annotation.coco_id in seen:
            raise ImportRecordError(f"{annotation.label}: the annotation id is used twice")
        seen.add(annotation.coco_id)
        by_image[annotation.image_id].append(annotation)
    return CocoDocument(tuple(images), by_image)


class _Importer:
    """The write pass over a checked document, inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        store: Store,
        taxonomy: writer.Taxonomy,
        images_dir: Path,
        data_source: str,
    ) -> None:
        self.session = session
        self.store = store
        self.taxonomy = taxonomy
        self.workflow: Workflow = taxonomy.workflow
        self.images_dir = images_dir
        self.data_source_name = data_source
        self.source: DataSource | None = None  # created only when a file is added
        self.new_cases: dict[str, int] = {}  # external ID -> case id

    def run(
        self,
        coco: CocoDocument,
        order: str | None,
        stage: str,
        stage_kind: StageKind,
        assessed_by: str,
        assessed_at: datetime,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportSummary:
        order_ = writer.workflow_order(self.session, self.workflow, order) if order else None
        existing = self._existing_files(coco.images, order_)
        bulk = writer.BulkWriter(self.session)
        added = matched = stored_annotations = stored_values = 0
        for number, image in enumerate(coco.images, 1):
            if progress is not None:
                progress(number - 1, len(coco.images))
            data_file = existing.get(image.file_name)
            with _about(image.label):
                if data_file is None:
                    file_id = self._add_file(bulk, image, order_)
                    added += 1
                else:
                    file_id = data_file.id
                    matched += 1
                assessment = bulk.assessment(file_id, stage, stage_kind, assessed_by, assessed_at)
            for annotation in coco.annotations[image.coco_id]:
                with _about(annotation.label):
                    entity_id = annotation.entity_id or str(uuid.uuid4())
                    for shape in annotation.shapes:
                        row = bulk.annotation(
                            self.taxonomy,
                            assessment,
                            entity_id,
                            annotation.object_class,
                            shape,
                            confidence=annotation.score,
                            class_confidence=annotation.score,
                        )
                        stored_annotations += 1
                        for name, raw in annotation.values:
                            bulk.value(
                                self.taxonomy, assessment, row.entity_id, name, raw, annotation=row
                            )
                            stored_values += 1
        bulk.finish()
        if progress is not None:
            progress(len(coco.images), len(coco.images))
        return ImportSummary(added, matched, len(coco.images), stored_annotations, stored_values)

    def _existing_files(
        self, images: tuple[CocoImage, ...], order: WorkflowOrder | None
    ) -> dict[str, DataFile]:
        """The workflow's files (in the order, if any) with a COCO image's file name."""
        by_name = {image.file_name: image for image in images}
        names = list(by_name)
        found: dict[str, list[DataFile]] = {}
        for start in range(0, len(names), _CHUNK):
            query = (
                select(DataFile)
                .join(Case, DataFile.case_id == Case.id)
                .where(
                    Case.workflow_id == self.workflow.id,
                    DataFile.file_name.in_(names[start : start + _CHUNK]),
                )
                .order_by(DataFile.id)
            )
            if order is not None:
                query = query.where(Case.workflow_order_id == order.id)
            for data_file in self.session.scalars(query):
                found.setdefault(data_file.file_name, []).append(data_file)
        matches: dict[str, DataFile] = {}
        for name, files in found.items():
            image = by_name[name]
            if len(files) > 1:
                where = f"workflow {self.workflow.name!r}"
                hint = "import into one workflow order (order=...)"
                if order is not None:
                    where += f", order {order.name!r}"
                    hint = "rename the images so that each names one file"
                raise ImportRecordError(
                    f"{image.label}: {len(files)} files named {name!r} exist in {where}; {hint}"
                )
            data_file = files[0]
            known_size = data_file.width > 0 and data_file.height > 0  # 0x0: no bytes yet
            if known_size and (data_file.width, data_file.height) != (image.width, image.height):
                raise ImportRecordError(
                    f"{image.label}: the COCO record says {image.width}x{image.height} pixels "
                    f"but the stored file is {data_file.width}x{data_file.height}"
                )
            matches[name] = data_file
        return matches

    def _add_file(
        self, bulk: writer.BulkWriter, image: CocoImage, order: WorkflowOrder | None
    ) -> int:
        case_id = self.new_cases.get(image.external_id)
        if case_id is None:
            case_id = bulk.case(self.workflow, image.external_id, order)
            if bulk.files_in_case(case_id):
                names = self.session.scalars(
                    select(DataFile.file_name)
                    .where(DataFile.case_id == case_id)
                    .order_by(DataFile.count)
                )
                raise ImportRecordError(
                    f"case {image.external_id!r} already exists in workflow "
                    f"{self.workflow.name!r} with other files ({', '.join(names)}); give the "
                    "image its own 'external_id' or import into another workflow order"
                )
            self.new_cases[image.external_id] = case_id
        data = _read_image(self.images_dir, image)
        if self.source is None:
            self.source = writer.data_source(self.session, self.data_source_name)
        return bulk.file(case_id, self.source, image.file_name, data=data, storage=self.store.files)


def _read_image(images_dir: Path, image: CocoImage) -> bytes:
    """The image's bytes, checked to decode at the size the COCO record states."""
    path = images_dir / image.file_name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingImageError(f"image file not found: {path}") from None
    except OSError as exc:
        raise MissingImageError(f"cannot read image file {path}: {exc.strerror or exc}") from None
    try:
        with Image.open(io.BytesIO(data)) as decoded:
            width, height = displayed_size(decoded)  # as a person sees it (SPEC 2)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MissingImageError(f"{path} is not a readable image: {exc}") from None
    if (width, height) != (image.width, image.height):
        raise ImportRecordError(
            f"the COCO record says {image.width}x{image.height} pixels "
            f"but {path} is {width}x{height} as displayed (EXIF orientation applied)"
        )
    return data


@contextmanager
def _about(label: str) -> Iterator[None]:
    """Prefix an error from the store's writer with the record it is about."""
    try:
        yield
    except AssessError as exc:
        if str(exc).startswith(f"{label}:"):
            raise
        raise type(exc)(f"{label}: {exc}") from exc


# -- checking records (no database access) ---------------------------------------------


def _list(document: dict, key: str, source: str, *, required: bool) -> list:
    value = document.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        what = "missing" if value is None else f"not a list but {type(value).__name__}"
        raise ImportRecordError(f"{source}: {key!r} is {what}")
    return value


def _record(raw: object, index: int, kind: str) -> tuple[dict, CocoId, str]:
    """A COCO record as a dict with its id and the label that names it."""
    plural = f"{kind}s[{index}]"
    if not isinstance(raw, dict):
        raise ImportRecordError(f"{plural}: a {kind} is a JSON object, got {_show(raw)}")
    if "id" not in raw:
        raise ImportRecordError(f"{plural}: missing key 'id'")
    coco_id = _coco_id(raw["id"], plural, "id")
    return raw, coco_id, f"{kind} {_show(coco_id)}"


def _coco_id(value: object, label: str, key: str) -> CocoId:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ImportRecordError(
            f"{label}: {key!r} must be an integer or a text, got {_show(value)}"
        )
    return value


def _key(record: dict, key: str, label: str) -> object:
    if key not in record:
        raise ImportRecordError(f"{label}: missing key {key!r}")
    return record[key]


def _parse_images(raws: list) -> list[CocoImage]:
    images: list[CocoImage] = []
    ids: set[CocoId] = set()
    names: dict[str, str] = {}
    for index, raw in enumerate(raws):
        record, coco_id, label = _record(raw, index, "image")
        if coco_id in ids:
            raise ImportRecordError(f"{label}: the image id is used twice")
        ids.add(coco_id)
        file_name = _file_name(_key(record, "file_name", label), label)
        label = f"{label} ({file_name!r})"
        if file_name in names:
            raise ImportRecordError(f"{label}: {names[file_name]} has the same file name")
        names[file_name] = label
        width = _size(_key(record, "width", label), label, "width")
        height = _size(_key(record, "height", label), label, "height")
        external_id = _external_id(record.get("external_id", coco_id), label)
        images.append(CocoImage(coco_id, file_name, width, height, external_id, label))
    return images


def _file_name(value: object, label: str) -> str:
    """A relative path under images_dir: no absolute path, no '..', no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ImportRecordError(f"{label}: 'file_name' must be a non-empty text")
    parts = PurePosixPath(value).parts
    if (
        len(value) > MAX_FILE_NAME
        or _has_control(value)
        or value.startswith(("/", "\\"))
        or ".." in parts
        or ".." in value.split("\\")
    ):
        raise ImportRecordError(
            f"{label}: unsafe file_name {value[:80]!r}: it must be a relative path inside "
            f"the images folder, at most {MAX_FILE_NAME} characters, without '..'"
        )
    return value


def _external_id(value: object, label: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ImportRecordError(f"{label}: 'external_id' must be a text, got {_show(value)}")
    text = str(value).strip()
    if not text or len(text) > MAX_EXTERNAL_ID or _has_control(text):
        raise ImportRecordError(
            f"{label}: invalid external_id {text[:80]!r}: it must be 1 to {MAX_EXTERNAL_ID} "
            "characters without control characters"
        )
    return text


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _size(value: object, label: str, key: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ImportRecordError(f"{label}: {key!r} must be a positive integer, got {_show(value)}")
    return value


def _parse_categories(raws: list) -> dict[CocoId, str]:
    categories: dict[CocoId, str] = {}
    for index, raw in enumerate(raws):
        record, coco_id, label = _record(raw, index, "category")
        if coco_id in categories:
            raise ImportRecordError(f"{label}: the category id is used twice")
        name = _key(record, "name", label)
        if not isinstance(name, str) or not name:
            raise ImportRecordError(f"{label}: 'name' must be a non-empty text")
        categories[coco_id] = name
    return categories


def _parse_annotation(
    raw: object,
    index: int,
    images: dict[CocoId, CocoImage],
    categories: dict[CocoId, str],
    taxonomy: writer.Taxonomy,
) -> CocoAnnotation:
    record, coco_id, label = _record(raw, index, "annotation")
    image_id = _coco_id(_key(record, "image_id", label), label, "image_id")
    if image_id not in images:
        raise ImportRecordError(f"{label}: image_id {_show(image_id)} is not in 'images'")
    image = images[image_id]
    category_id = _coco_id(_key(record, "category_id", label), label, "category_id")
    if category_id not in categories:
        raise ImportRecordError(f"{label}: category_id {_show(category_id)} is not in 'categories'")
    category = categories[category_id]
    if category not in taxonomy.classes:
        raise UnknownChoiceError(
            f"{label}: unknown category {category!r} (category {_show(category_id)}) in "
            f"workflow {taxonomy.workflow.name!r}; known classes: {', '.join(taxonomy.classes)}"
        )
    attributes = record.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ImportRecordError(f"{label}: 'attributes' must be a JSON object")
    shapes, from_bbox = _shapes(record, label, image)
    return CocoAnnotation(
        coco_id=coco_id,
        label=label,
        image_id=image_id,
        object_class=category,
        shapes=shapes,
        score=_score(record.get("score"), label),
        entity_id=_entity_id(record, attributes, label),
        values=_values(attributes, taxonomy, label, from_bbox),
    )


def _shapes(record: dict, label: str, image: CocoImage) -> tuple[tuple[Geometry, ...], bool]:
    """The annotation's polygons, and whether they come from its bbox."""
    segmentation = record.get("segmentation")
    bbox = record.get("bbox")
    numbers = _numbers(bbox, label, "bbox") if bbox is not None else None
    if numbers is not None and len(numbers) != 4:
        raise InvalidGeometryError(f"{label}: a bbox is [x, y, width, height], got {_show(bbox)}")
    if isinstance(segmentation, dict):
        raise ImportRecordError(
            f"{label}: RLE segmentation masks are not supported; export polygons instead"
        )
    if segmentation not in (None, []):
        if not isinstance(segmentation, list):
            raise InvalidGeometryError(
                f"{label}: 'segmentation' must be a list of polygons, got {_show(segmentation)}"
            )
        shapes = tuple(_polygon(part, label) for part in segmentation)
        from_bbox = False
    elif numbers is not None:
        with _about(label):
            shapes = (box(*numbers),)
        from_bbox = True
    else:
        raise InvalidGeometryError(f"{label}: has neither a 'segmentation' nor a 'bbox'")
    return tuple(_inside(shape, image, label) for shape in shapes), from_bbox


def _numbers(value: object, label: str, key: str) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in value
    ):
        raise InvalidGeometryError(
            f"{label}: {key!r} must be a list of numbers, got {_show(value)}"
        )
    return [float(n) for n in value]


def _polygon(part: object, label: str) -> Geometry:
    coords = _numbers(part, label, "segmentation polygon")
    if len(coords) % 2:
        raise InvalidGeometryError(
            f"{label}: a segmentation polygon has an odd number of coordinates ({len(coords)})"
        )
    if len(coords) < 6:
        raise InvalidGeometryError(
            f"{label}: a segmentation polygon needs at least 3 points, got {len(coords) // 2}"
        )
    with _about(label):
        return polygon(list(zip(coords[::2], coords[1::2], strict=True)))


def _inside(shape: Geometry, image: CocoImage, label: str) -> Geometry:
    """The shape with float-rounding overshoots clamped; an error if it leaves the image."""
    points = []
    for x, y in shape.points:
        if not (
            -EDGE_TOLERANCE <= x <= image.width + EDGE_TOLERANCE
            and -EDGE_TOLERANCE <= y <= image.height + EDGE_TOLERANCE
        ):
            raise InvalidGeometryError(
                f"{label}: point ({x:g}, {y:g}) is outside {image.label}, which is "
                f"{image.width}x{image.height} pixels"
            )
        points.append((min(max(x, 0.0), image.width), min(max(y, 0.0), image.height)))
    return Geometry(shape.kind, tuple(points))


def _score(value: object, label: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidValueError(
            f"{label}: 'score' must be a number from 0 to 1, got {_show(value)}"
        )
    return float(value)


def _entity_id(record: dict, attributes: dict, label: str) -> str | None:
    given = {
        _uuid(value, label)
        for value in (record.get(ENTITY_KEY), attributes.get(ENTITY_KEY))
        if value not in (None, "")
    }
    if len(given) > 1:
        raise ImportRecordError(
            f"{label}: two different entity_id values: {', '.join(sorted(given))}"
        )
    return given.pop() if given else None


def _uuid(value: object, label: str) -> str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise ImportRecordError(f"{label}: entity_id {_show(value)} is not a UUID")


def _values(
    attributes: dict, taxonomy: writer.Taxonomy, label: str, from_bbox: bool
) -> tuple[tuple[str, object], ...]:
    values: dict[str, object] = {}
    for name, raw in attributes.items():
        if name == ENTITY_KEY:
            continue
        if name not in taxonomy.attributes and name in CVAT_OWN_ATTRIBUTES:
            if name == "rotation" and from_bbox and _nonzero(raw):
                raise ImportRecordError(
                    f"{label}: a box rotated by {raw} degrees is not where its bbox says; "
                    "export it as a polygon"
                )
            continue
        with _about(label):
            definition = taxonomy.attribute(name)
            if raw is not None:
                canonical_value(definition, raw)
                values[name] = raw
    order = list(taxonomy.attributes)
    return tuple(sorted(values.items(), key=lambda item: order.index(item[0])))


def _nonzero(value: object) -> bool:
    try:
        return float(value) % 360 != 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def _stage_kind(value: str | StageKind) -> StageKind:
    try:
        return StageKind(value)
    except ValueError:
        raise InvalidValueError(
            f"stage_kind must be 'machine' or 'human', got {_show(value)}"
        ) from None


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(f"{name} must be a non-empty text, got {_show(value)}")


def _utc_naive(value: datetime | None) -> datetime:
    """The store keeps naive UTC; a naive input is taken to be UTC already."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
