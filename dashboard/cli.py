"""The command line: the same exports as the dashboard, scriptable, with a progress bar.

    assess-export list
    assess-export export WORKFLOW --scope latest --layout long --output out.csv
    assess-export demo [--if-empty]
    assess-export import-coco WORKFLOW coco.json IMAGES_DIR --stage detector --stage-kind machine
    assess-export import-csv long.csv [--workflow NAME] [--images-dir DIR]
    assess-export serve [PANEL SERVE OPTIONS]

Exit codes: 0 done; 2 bad input (one line on stderr; nothing is written); 3 the environment
failed (the output's disk or file system, the database: one line; nothing is written);
141 the reader of the output went away (``| head``), quietly, as Unix tools end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from dashboard import __version__
from dashboard.errors import AssessError, OutputPathError
from dashboard.spec.options import Layout, Scope
from dashboard.store.db import Store, open_store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assess-export", description="Export assessment workflow results."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="list workflows with their orders and data sources")
    commands.add_parser(
        "serve", help="serve the dashboard (on 127.0.0.1:5006; options: panel serve's)"
    )

    export = commands.add_parser("export", help="export one workflow")
    export.add_argument("workflow")
    export.add_argument("--scope", choices=[s.value for s in Scope], default=Scope.latest.value)
    export.add_argument("--layout", choices=[x.value for x in Layout], default=Layout.long.value)
    export.add_argument("--data-source", default=None, help="blank = all data sources")
    export.add_argument("--order", default=None, help="blank = all workflow orders")
    export.add_argument(
        "--stage-kind", choices=["machine", "human"], default=None,
        help="only assessments of this kind (after the scope: latest + human = files whose "
        "latest pass is human)",
    )  # fmt: skip
    export.add_argument(
        "--from", dest="assessed_from", default=None, metavar="UTC",
        help="only assessments at or after this UTC date or time (latest + --from: what "
        "changed since)",
    )  # fmt: skip
    export.add_argument(
        "--to", dest="assessed_to", default=None, metavar="UTC",
        help="only assessments before this UTC date or time",
    )  # fmt: skip
    export.add_argument(
        "--class", dest="object_classes", action="append", default=[], metavar="NAME",
        help="only annotations of this object class (repeat for several), and only the files "
        "that have one",
    )  # fmt: skip
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument(
        "--no-spreadsheet-safety",
        action="store_true",
        help="do not prefix ' to cells a spreadsheet would run as formulas",
    )
    export.add_argument(
        "--output", "-o", default=None, help="file to write, or - for stdout (default: a name)"
    )
    export.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    demo = commands.add_parser("demo", help="create the demo workflow")
    demo.add_argument("--if-empty", action="store_true", help="only when the store is empty")
    demo.add_argument("--seed", type=int, default=7)

    create = commands.add_parser(
        "create-workflow", help="create a workflow from a taxonomy file (YAML or JSON)"
    )
    create.add_argument("workflow")
    create.add_argument(
        "taxonomy", type=Path,
        help="object_classes (names, or name and colour), attributes (name, type, enum "
        "options), optional orders and description: see README",
    )  # fmt: skip

    coco = commands.add_parser("import-coco", help="import a COCO JSON file as one stage")
    coco.add_argument("workflow")
    coco.add_argument("coco_json", type=Path)
    coco.add_argument("images_dir", type=Path)
    coco.add_argument("--stage", required=True)
    coco.add_argument("--stage-kind", choices=["machine", "human"], required=True)
    coco.add_argument("--assessed-by", required=True)
    coco.add_argument("--data-source", default="coco-import")
    coco.add_argument("--order", default=None, help="the workflow order of new files")
    coco.add_argument(
        "--create", action="store_true",
        help="create the workflow if the store has none of that name, its object classes "
        "from the COCO categories and its attributes from the annotations' attributes",
    )  # fmt: skip
    coco.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    long_csv = commands.add_parser(
        "import-csv", help="import a long CSV (Attribute Values and Confidences) of this tool"
    )
    long_csv.add_argument("csv_file", type=Path)
    long_csv.add_argument(
        "--workflow", default=None, help="refuse rows of any other workflow (a guard)"
    )
    long_csv.add_argument(
        "--images-dir", type=Path, default=None, help="read each file's bytes from here"
    )
    long_csv.add_argument(
        "--no-spreadsheet-safety",
        action="store_true",
        help="the CSV was exported with spreadsheet safety off: keep every leading '",
    )
    long_csv.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def _list(store: Store) -> None:
    from dashboard.export import ExportQuery

    for name in store.workflow_names():
        choices = ExportQuery(store, workflow=name).choices()
        print(name)
        print(f"  orders: {', '.join(choices.orders) or '(none)'}")
        print(f"  data sources: {', '.join(choices.data_sources) or '(none)'}")


def _export(store: Store, args: argparse.Namespace) -> None:
    from dashboard.export import ExportQuery
    from dashboard.runtime import tune_process

    tune_process()  # the export settings of the server and the job workers
    query = ExportQuery(
        store,
        workflow=args.workflow,
        scope=args.scope,
        layout=args.layout,
        data_source=args.data_source or None,
        order=args.order or None,
        stage_kind=args.stage_kind,
        assessed_from=args.assessed_from,
        assessed_to=args.assessed_to,
        object_classes=args.object_classes,
        format=args.format,
        spreadsheet_safe=not args.no_spreadsheet_safety,
    )
    output = args.output or query.filename()
    target = None if output == "-" else _writable_target(output)
    # The bar's total is counted only for a bar someone sees (on a terminal, without -q):
    # counting is a query over the whole export, a good part of a scripted run's time.
    shown = not args.quiet and sys.stderr.isatty()
    total = query.kind.progress_total(query.counts()) if shown else None
    bar = tqdm(total=total, unit="file", disable=not shown, file=sys.stderr)
    skipped: list[dict] = []

    def progress(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    try:
        if target is None:
            query.write(sys.stdout.buffer, progress, skipped.append)
            sys.stdout.buffer.flush()
        else:
            _write_file(query, output, target, progress, skipped.append)
    finally:
        bar.close()
    if skipped:
        names = ", ".join(entry["original_name"] for entry in skipped[:SKIPPED_SHOWN])
        more = f" and {len(skipped) - SKIPPED_SHOWN} more" if len(skipped) > SKIPPED_SHOWN else ""
        print(
            f"assess-export: warning: {len(skipped)} file(s) could not be read and are not in "
            f"the archive (manifest.json lists them): {names}{more}",
            file=sys.stderr,
        )
    if target is not None:
        print(output, file=sys.stderr)


SKIPPED_SHOWN = 5


@contextmanager
def _import_bar(args: argparse.Namespace, unit: str):
    """An import's progress bar on stderr (on a terminal, without -q); yields its callback."""
    bar = tqdm(
        total=0,
        unit=unit,
        unit_scale=unit == "B",
        disable=args.quiet or not sys.stderr.isatty(),
        file=sys.stderr,
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        bar.close()


def _writable_target(output: str) -> Path:
    """The output path, checked before any work: bad input names the path the user gave."""
    target = Path(output)
    if target.is_dir():
        raise OutputPathError(f"cannot write {output}: it is a folder")
    folder = target.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {output}: folder {folder} is not writable")
    return target


def _write_file(query, output: str, target: Path, progress, skipped) -> None:
    """Write next to the target and rename at the end: a failed export leaves nothing.
    The file gets the permissions the umask gives a new file, as other tools' do."""
    try:
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise OutputPathError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            query.write(out, progress, skipped)
        os.chmod(partial, 0o666 & ~_umask())
        os.replace(partial, target)
    except BaseException:
        os.unlink(partial)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # every further option is panel serve's (dashboard.web.server)
        from dashboard.web.server import main as serve

        return serve(argv[1:])
    args = _parser().parse_args(argv)
    try:
        store = open_store()
        if args.command == "list":
            _list(store)
        elif args.command == "export":
            _export(store, args)
        elif args.command == "demo":
            from dashboard.importers.demo import create_demo, ensure_demo

            if args.if_empty:
                created = ensure_demo(store, seed=args.seed)
                print("demo created" if created else "store not empty: demo not created")
            else:
                print(f"demo workflow {create_demo(store, seed=args.seed)!r} created")
        elif args.command == "import-coco":
            from dashboard.importers.coco import import_coco

            with _import_bar(args, "image") as progress:
                summary = import_coco(
                    store,
                    args.workflow,
                    args.coco_json,
                    args.images_dir,
                    stage=args.stage,
                    stage_kind=args.stage_kind,
                    assessed_by=args.assessed_by,
                    data_source=args.data_source,
                    order=args.order,
                    create=args.create,
                    progress=progress,
                )
            print(summary)
        elif args.command == "create-workflow":
            from dashboard.store import writer
            from dashboard.store.taxonomy_file import read_taxonomy

            spec = read_taxonomy(args.taxonomy)
            with store.session() as session:
                writer.create_workflow_from(session, args.workflow, spec)
            print(
                f"workflow {args.workflow!r} created: {len(spec.object_classes)} object "
                f"classes, {len(spec.attributes)} attributes, {len(spec.orders)} orders"
            )
        elif args.command == "import-csv":
            from dashboard.importers.long_csv import import_long_csv

            with _import_bar(args, "B") as progress:
                summary = import_long_csv(
                    store,
                    args.csv_file,
                    workflow=args.workflow,
                    images_dir=args.images_dir,
                    spreadsheet_safe=not args.no_spreadsheet_safety,
                    progress=progress,
                )
            print(summary)
    except AssessError as exc:
        print(f"assess-export: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): end quietly; stdout may not be flushed again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        from dashboard.config import Settings
        from dashboard.faults import environment_failure

        line = environment_failure(
            exc, db_url=Settings.from_env().db_url, output=getattr(args, "output", None)
        )
        if line is None:
            raise
        nothing = "imported" if args.command.startswith("import") else "written"
        print(f"assess-export: error: {line}; nothing was {nothing}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
