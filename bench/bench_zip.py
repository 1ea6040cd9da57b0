"""Benchmark: the Files ZIP writer against `cp -r` and Info-ZIP `zip -0`, in one run.

    .venv/bin/python bench/bench_zip.py [--files 400] [--size 580000] [--out bench/RESULTS-zip.md]

Generates N incompressible JPEG-like files (a JPEG header and random bytes) in a FileStorage
folder, warms the page cache, then times, interleaved and median of --repeats runs:
``cp -r`` of the folder, ``zip -0 -q -r`` of the folder, and ``write_files_zip`` to a file
(sha256 and CRC of every byte, manifest included). Peak memory of the writer is measured
in fresh subprocesses (ru_maxrss and tracemalloc), for N files and for one file of the same
total size, to show that memory does not grow with the data. Targets: faster than
``zip -0``, within 2.5x of ``cp``. Needs Info-ZIP ``zip`` (Debian: ``apt-get install zip``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.produce.archive import write_files_zip  # noqa: E402
from dashboard.spec.records import FileRecord  # noqa: E402
from dashboard.store.files import FileStorage  # noqa: E402

JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def make_files(folder: Path, count: int, size: int) -> list[FileRecord]:
    storage = FileStorage(str(folder))
    records = []
    for i in range(count):
        data = JPEG_HEADER + os.urandom(size - len(JPEG_HEADER))
        key, digest = storage.put_image(data, ".jpg")
        records.append(
            FileRecord(
                file_id=i + 1,
                external_id=str(3_000_000 + i // 4),
                workflow="bench",
                workflow_order="8492192",
                data_source="camera-1",
                count=i % 4 + 1,
                file_name=f"IMG_{i:05d}.JPG",
                content_type="image/jpeg",
                width=1920,
                height=1080,
                byte_size=len(data),
                sha256=digest,
                storage_key=key,
            )
        )
    return records


def save_records(records: list[FileRecord], path: Path) -> None:
    path.write_text(json.dumps([r.__dict__ for r in records]))


def load_records(path: Path) -> list[FileRecord]:
    return [FileRecord(**row) for row in json.loads(path.read_text())]


def warm(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            total += len(path.read_bytes())
    return total


def write_ours(records: list[FileRecord], folder: Path, target: Path) -> None:
    storage = FileStorage(str(folder))
    with target.open("wb") as fh:
        write_files_zip(records, storage, fh, filters={"order": "8492192"}, tool_version="bench")


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads) and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_kib(reset: bool = False) -> int:
    """Peak RSS of this process in KiB; ``reset`` first resets the peak (Linux >= 4.0).

    ru_maxrss alone is not enough: a child inherits its parent's peak through fork.
    """
    status = Path("/proc/self/status")
    if status.exists():
        if reset:
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def make_big_file(folder: Path, size: int) -> FileRecord:
    """One file of ``size`` bytes, written in pieces (the parent never holds it in memory)."""
    digest = hashlib.sha256()
    key = "bi/big.jpg"
    (folder / "bi").mkdir(parents=True, exist_ok=True)
    with (folder / key).open("wb") as fh:
        piece = JPEG_HEADER
        written = 0
        while written < size:
            piece = piece[: size - written]
            fh.write(piece)
            digest.update(piece)
            written += len(piece)
            piece = os.urandom(1 << 22)
    return FileRecord(
        file_id=1,
        external_id="1",
        workflow="bench",
        workflow_order="8492192",
        data_source="camera-1",
        count=1,
        file_name="big.jpg",
        content_type="image/jpeg",
        width=1,
        height=1,
        byte_size=size,
        sha256=digest.hexdigest(),
        storage_key=key,
    )


def child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: peak RSS and Python-heap peak of one write."""
    import tracemalloc

    records = load_records(Path(args.child_records))
    folder = Path(args.child_folder)
    target = Path(args.child_target)
    write_ours([], folder, target)  # imports, threads, first-use allocations: no file bytes
    before = peak_rss_kib(reset=True)
    seconds = timed(lambda: write_ours(records, folder, target))
    after = peak_rss_kib()
    tracemalloc.start()
    write_ours(records, folder, target)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "maxrss_before_kib": before,
                "maxrss_after_kib": after,
                "heap_peak_bytes": heap_peak,
                "seconds": seconds,
            }
        )
    )


def measure_memory(records_path: Path, folder: Path, target: Path) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child-records",
            str(records_path),
            "--child-folder",
            str(folder),
            "--child-target",
            str(target),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--size", type=int, default=580_000, help="bytes per file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS-zip.md")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--child-records", help=argparse.SUPPRESS)
    parser.add_argument("--child-folder", help=argparse.SUPPRESS)
    parser.add_argument("--child-target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_records:
        child(args)
        return
    if shutil.which("zip") is None:
        sys.exit("Info-ZIP `zip` is missing: apt-get install -y zip")

    work = Path(tempfile.mkdtemp(prefix="bench-zip-", dir=args.workdir))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    files = work / "files"
    print(f"generating {args.files} files of {args.size} bytes in {work} ...", flush=True)
    records = make_files(files, args.files, args.size)
    data_bytes = sum(r.byte_size for r in records)
    warm(files)
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out_dir = work / "out"
    out_dir.mkdir()

    def cp() -> None:
        subprocess.run(["cp", "-r", str(files), str(out_dir / "copy")], check=True)

    def zip0() -> None:
        subprocess.run(
            ["zip", "-0", "-q", "-r", str(out_dir / "zip0.zip"), "."], check=True, cwd=files
        )

    sizes: dict[str, int] = {}

    def ours() -> None:
        write_ours(records, files, out_dir / "ours.zip")
        sizes["ours"] = (out_dir / "ours.zip").stat().st_size

    class NullSink:
        def write(self, data) -> int:
            return len(data)

    def ours_null() -> None:
        write_files_zip(
            records, FileStorage(str(files)), NullSink(), filters={}, tool_version="bench"
        )

    methods = {
        "cp -r": cp,
        "zip -0 -q -r": zip0,
        "write_files_zip": ours,
        "write_files_zip to a null sink (CPU only)": ours_null,
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(args.repeats):
        for name, func in methods.items():
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir()
            os.sync()  # no write-back of the previous run's output during this one
            cpu_start = cpu_seconds()
            times[name].append(timed(func))
            cpu[name].append(cpu_seconds() - cpu_start)
        print(f"run {repeat + 1}: " + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()))
    ours_size = sizes["ours"]
    medians = {name: statistics.median(values) for name, values in times.items()}
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()

    # Memory: N files, and one file as large as all of them together.
    records_path = work / "records.json"
    save_records(records, records_path)
    many = measure_memory(records_path, files, out_dir / "mem.zip")
    big_folder = work / "big"
    big = [make_big_file(big_folder, data_bytes)]
    save_records(big, records_path)
    one = measure_memory(records_path, big_folder, out_dir / "mem.zip")

    mb = data_bytes / 1e6
    processor = platform.processor() or platform.machine()
    lines = [
        f"## Files ZIP writer ({datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')})",
        "",
        f"{args.files} JPEG-like incompressible files of {args.size:,} bytes "
        f"({mb:.0f} MB), page cache warm, output on the same disk; {os.cpu_count()} CPUs "
        f"({processor}), Python {platform.python_version()}. Median of {args.repeats}, "
        "interleaved runs, same process, `sync` before each run. "
        f"Load average at the start: {load_at_start}.",
        "",
        "| method | median s | MB/s | median CPU s (user+sys) | runs (s) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, median in medians.items():
        runs = " ".join(f"{t:.3f}" for t in times[name])
        cpu_median = statistics.median(cpu[name])
        lines.append(f"| `{name}` | {median:.3f} | {mb / median:.0f} | {cpu_median:.3f} | {runs} |")
    cpu_ours = statistics.median(cpu["write_files_zip"])
    ratio_cp = medians["write_files_zip"] / medians["cp -r"]
    ratio_zip = medians["write_files_zip"] / medians["zip -0 -q -r"]
    lines += [
        "",
        f"- ours / cp: **{ratio_cp:.2f}x** (target <= 2.5x: "
        f"{'met' if ratio_cp <= 2.5 else 'NOT met'})",
        f"- ours / zip -0: **{ratio_zip:.2f}x** (target < 1: "
        f"{'met' if ratio_zip < 1 else 'NOT met'})",
        "- CPU time (user+sys, all threads), less sensitive to other load: "
        f"ours / cp {cpu_ours / statistics.median(cpu['cp -r']):.2f}x, "
        f"ours / zip -0 {cpu_ours / statistics.median(cpu['zip -0 -q -r']):.2f}x",
        f"- archive size {ours_size:,} bytes for {data_bytes:,} bytes of data "
        f"(+{(ours_size - data_bytes) / args.files:.0f} bytes per member, manifest included)",
        "",
        "Memory of one write in a fresh process (peak RSS, VmHWM, during the write and its "
        "growth over the process after an empty write; tracemalloc peak of the Python heap "
        "during a second write):",
        "",
        "| input | data MB | peak RSS MiB | RSS growth MiB | heap peak MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, result in ((f"{args.files} files", many), ("1 file", one)):
        growth = (result["maxrss_after_kib"] - result["maxrss_before_kib"]) / 1024
        heap = result["heap_peak_bytes"] / 2**20
        peak = result["maxrss_after_kib"] / 1024
        lines.append(f"| {label} | {mb:.0f} | {peak:.1f} | {growth:.1f} | {heap:.1f} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
