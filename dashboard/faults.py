"""A failure of the environment (the database, the disk) in one line.

The command line's message, the server's log line for a failed download, a failed job's error
and the dashboard's notice all come from here, so they word a fault the same way: what failed,
where (the path the user gave, the database's host, never its password) and why.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url


def database_reason(exc: BaseException) -> str:
    """A database failure in one line: the driver's first line, without the statement or its
    parameters (and so never a password: SQLAlchemy's URL is not in the message)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()
    return first[0] if first else type(original).__name__


def is_database_failure(exc: BaseException) -> bool:
    """A lost, refused or failing database connection (SQLAlchemy's, the ADBC bulk reader's or
    the SQLite reader process's); never a user's bad input."""
    from adbc_driver_manager import Error as BulkReaderError
    from sqlalchemy.exc import DBAPIError

    from dashboard.query.reader import ReaderError

    return isinstance(exc, DBAPIError | BulkReaderError | ReaderError)


def database_location(db_url: str | None) -> str:
    """Where the database is, for a message: ``127.0.0.1:5432/test`` or the SQLite file."""
    if not db_url:
        return "the database"
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return f"the database {url.database or ':memory:'}"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"the database at {host}{port}/{url.database or ''}"


def environment_failure(
    exc: BaseException, *, db_url: str | None = None, output: str | None = None
) -> str | None:
    """One line for a database or operating-system failure, or None if ``exc`` is neither.

    ``output``: the path the user gave for the output (``-`` for standard output)."""
    if is_database_failure(exc):
        return f"{database_location(db_url)} failed: {database_reason(exc)}"
    if isinstance(exc, OSError):
        where = f"writing {output}" if output and output != "-" else "writing the output"
        if exc.filename is not None and not Path(str(exc.filename)).name.startswith("."):
            where = f"{where} (reading {exc.filename})"
        return f"{where} failed: {exc.strerror or exc}"
    return None
