"""Names of archive members and downloads (SPEC 3.4, 3.5): pure text rules, no IO.

Naming (SPEC 3.4, 3.5)
    ``<external-id>_<order-or-workflow>_<count>.<suffix>`` and, for Annotated Files with All
    Assessments, ``<external-id>_<order>_<count>_<stage>.<suffix>``. An all-digit (ASCII)
    external ID is zero-padded to 12 digits. Each part is NFC-normalised, stripped of
    surrounding white space, and every character other than a letter or digit of any
    script, ``_``, ``-`` and ``.`` becomes ``-`` (so no ``/``, ``\\``, control, format or
    bidi-override characters, no spaces); runs of dots become ``-`` (so never ``..``);
    a leading or trailing dot becomes ``-`` (no hidden files, nothing Windows would trim);
    an empty part becomes ``-``; a whole name that would start with ``-`` gets a leading
    ``_`` (never taken for an option). Each part is capped at 64 bytes of UTF-8 (the suffix at
    16) so that a whole name, ``~N`` included, stays below the 255-byte limit of common
    file systems. The suffix is the original file name's, lower case, letters and digits
    only (other runs become one ``-``); a file without one gets a name without a trailing dot.

Uniqueness
    :func:`unique_names` keeps the first occurrence of a name and gives later clashes
    ``~2``, ``~3``... before the suffix. Names are compared ignoring case and Unicode
    normalisation (NFC + casefold), because the archive is often extracted on a
    case-insensitive file system (Windows, macOS) where ``A_x_1.jpg`` and ``a_x_1.jpg``
    would overwrite each other. ``manifest.json`` is reserved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from dashboard.spec.records import FileRecord

PART_MAX_BYTES = 64
SUFFIX_MAX_BYTES = 16
EXTERNAL_ID_DIGITS = 12

_UNSAFE = re.compile(r"[^\w.-]")  # str pattern: \w is letters/digits of any script and _
_NOT_ALNUM_RUN = re.compile(r"[\W_]+")
_DOTS = re.compile(r"\.{2,}")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_PATH_SEPARATORS = re.compile(r"[/\\]")


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def safe_part(text: str, max_bytes: int = PART_MAX_BYTES) -> str:
    """One sanitised name part: no separators, dot runs or control characters (SPEC 3.4)."""
    text = unicodedata.normalize("NFC", str(text)).strip()
    text = _UNSAFE.sub("-", text)
    text = _DOTS.sub("-", text)
    text = _truncate_utf8(text, max_bytes)
    if text.startswith("."):
        text = "-" + text[1:]
    if text.endswith("."):
        text = text[:-1] + "-"
    return text or "-"


def leading_safe(name: str) -> str:
    """A whole name that would start with ``-`` or ``.`` gets a leading ``_`` (SPEC 3.4):
    no member or download is taken for a command-line option or a hidden file."""
    return f"_{name}" if name.startswith(("-", ".")) else name


def _clean_suffix(suffix: str | None) -> str:
    text = unicodedata.normalize("NFC", suffix or "").strip().lstrip(".").lower()
    text = _NOT_ALNUM_RUN.sub("-", text).strip("-")
    return _truncate_utf8(text, SUFFIX_MAX_BYTES).rstrip("-")


def suffix_of(file_name: str) -> str:
    """The suffix of an original file name, without the dot ('' if it has none).

    Both ``/`` and ``\\`` count as folder separators; a leading dot (``.bashrc``) is not a
    suffix.
    """
    base = _PATH_SEPARATORS.split(file_name or "")[-1]
    dot = base.rfind(".")
    return base[dot + 1 :] if dot > 0 else ""


def member_name(
    external_id: str,
    order_or_workflow: str,
    count: int,
    suffix: str,
    stage: str | None = None,
) -> str:
    """The sanitised archive member name of one file (SPEC 3.4; with ``stage``, SPEC 3.5).

    ``suffix`` may be given with or without its dot (``"JPG"``, ``".jpg"``); it is
    lower-cased. The result is not yet unique: see :func:`unique_names`.
    """
    ext = str(external_id).strip()
    if _ASCII_DIGITS.fullmatch(ext):
        ext = ext.zfill(EXTERNAL_ID_DIGITS)
    parts = [safe_part(ext), safe_part(order_or_workflow), str(int(count))]
    if stage is not None:
        parts.append(safe_part(stage))
    name = leading_safe("_".join(parts))
    clean_suffix = _clean_suffix(suffix)
    return f"{name}.{clean_suffix}" if clean_suffix else name


def clash_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _split_suffix(name: str) -> tuple[str, str]:
    """Split ``a_b_1.jpg`` into ``("a_b_1", ".jpg")``.

    A dot counts as the suffix's only if it comes after the last ``_`` (the parts of a name
    may contain dots, a suffix never contains ``_``) and is not the first character.
    """
    dot = name.rfind(".")
    if dot > 0 and dot > name.rfind("_") and dot > name.rfind("/"):
        return name[:dot], name[dot:]
    return name, ""


def unique_names(names: Iterable[str], *, reserved: Iterable[str] = ()) -> Iterator[str]:
    """Make names unique, deterministically and in order.

    The first occurrence of a name keeps it; each later clash gets ``~2``, ``~3``... before
    its suffix (``a_b_1~2.jpg``), skipping any candidate already used (or reserved). Names
    clash when equal ignoring case and Unicode normalisation (see the module docstring).
    """
    used = {clash_key(name) for name in reserved}
    next_number: dict[str, int] = {}
    for name in names:
        key = clash_key(name)
        if key not in used:
            used.add(key)
            yield name
            continue
        stem, suffix = _split_suffix(name)
        number = next_number.get(key, 2)
        while True:
            candidate = f"{stem}~{number}{suffix}"
            candidate_key = clash_key(candidate)
            number += 1
            if candidate_key not in used:
                break
        next_number[key] = number
        used.add(candidate_key)
        yield candidate


def record_member_name(record: FileRecord, stage: str | None = None) -> str:
    """:func:`member_name` of a record (before de-duplication)."""
    return member_name(
        record.external_id,
        record.order_or_workflow,
        record.count,
        suffix_of(record.file_name),
        stage,
    )
