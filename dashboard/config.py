"""The one module that reads configuration from the environment (SPEC section 6a).

Variables (defaults in brackets):

- ASSESS_DATA_DIR: folder for the embedded store, image bytes, finished exports [./data]
- ASSESS_DB_URL: SQLAlchemy URL of the store [a SQLite file in the data folder]
- ASSESS_FILES_URL: fsspec URL where image bytes live [a folder in the data folder]
- ASSESS_SECRET: key that signs download links [generated once, kept in the data folder]
- ASSESS_PUBLIC_URL: base URL used in emailed links [http://localhost:5006]
- ASSESS_SMTP_HOST, _PORT, _USER, _PASSWORD, _FROM, _TLS: outgoing mail [unset: links in the UI]
- ASSESS_ADMINS: comma-separated user names with the admin role [unset: everyone who logs in]
- ASSESS_JOBS_URL: job engine storage, e.g. redis://... [embedded, in the data folder]
- ASSESS_EXPORTS_URL: fsspec URL where finished Annotated Files archives are kept, e.g.
  s3://bucket/exports: every server serves what any worker drew [the data folder's exports/]
- ASSESS_DOWNLOAD_SLOTS: downloads a server process produces at once [4]
- ASSESS_DOWNLOAD_QUEUE: further downloads that wait for a slot; beyond, 503 [16]
- ASSESS_DOWNLOAD_WAIT: seconds a download waits for a slot before a 503 [30]
- ASSESS_JOB_HEARTBEAT: seconds between a running job's reports; a job silent for three of
  them lost its worker (killed, out of memory) and is run again by a live worker [10]
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

TRUTHY = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = "assess-export@localhost"
    tls: bool = False


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db_url: str
    files_url: str
    public_url: str | None = None  # None: the base URL the dashboard was opened at
    admins: frozenset[str] | None = None
    jobs_url: str | None = None
    exports_url: str | None = None  # None: exports_dir
    smtp: SmtpSettings | None = None
    secret_value: str | None = field(default=None, repr=False)
    download_slots: int = 4
    download_queue: int = 16
    download_wait: float = 30.0
    job_heartbeat: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("ASSESS_DATA_DIR") or "./data").resolve()
        admins = env.get("ASSESS_ADMINS")
        smtp = None
        if env.get("ASSESS_SMTP_HOST"):
            smtp = SmtpSettings(
                host=env["ASSESS_SMTP_HOST"],
                port=_port(env.get("ASSESS_SMTP_PORT")),
                user=env.get("ASSESS_SMTP_USER") or None,
                password=env.get("ASSESS_SMTP_PASSWORD") or None,
                sender=env.get("ASSESS_SMTP_FROM") or "assess-export@localhost",
                tls=(env.get("ASSESS_SMTP_TLS") or "").strip().lower() in TRUTHY,
            )
        return cls(
            data_dir=data_dir,
            db_url=env.get("ASSESS_DB_URL") or f"sqlite:///{data_dir / 'assess.db'}",
            files_url=env.get("ASSESS_FILES_URL") or str(data_dir / "files"),
            public_url=(env.get("ASSESS_PUBLIC_URL") or "").rstrip("/") or None,
            admins=(
                frozenset(a.strip() for a in admins.split(",") if a.strip()) if admins else None
            ),
            jobs_url=env.get("ASSESS_JOBS_URL") or None,
            exports_url=(env.get("ASSESS_EXPORTS_URL") or "").rstrip("/") or None,
            smtp=smtp,
            secret_value=env.get("ASSESS_SECRET") or None,
            download_slots=_count(env, "ASSESS_DOWNLOAD_SLOTS", 4, minimum=1),
            download_queue=_count(env, "ASSESS_DOWNLOAD_QUEUE", 16, minimum=0),
            download_wait=float(_count(env, "ASSESS_DOWNLOAD_WAIT", 30, minimum=0)),
            job_heartbeat=_seconds(env, "ASSESS_JOB_HEARTBEAT", 10.0),
        )

    @property
    def job_stale_after(self) -> float:
        """Seconds without a report after which a running job's worker is taken to be dead."""
        return 3 * self.job_heartbeat

    @property
    def exports_dir(self) -> Path:
        """The local folder a job draws its archive in: where it is kept too, unless
        ASSESS_EXPORTS_URL names another place."""
        return self.data_dir / "exports"

    @property
    def exports_location(self) -> str:
        """Where finished archives are kept: ASSESS_EXPORTS_URL, else ``exports_dir``."""
        return self.exports_url or str(self.exports_dir)

    def secret(self) -> bytes:
        """The link-signing key: ASSESS_SECRET, or one generated once into the data folder."""
        if self.secret_value:
            return self.secret_value.encode()
        path = self.data_dir / "secret"
        if not path.exists():
            # Written aside, then linked into place: a second process starting at the same
            # moment either wins the link or reads the first one's complete secret.
            self.data_dir.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".secret.{secrets.token_hex(8)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        value = path.read_text().strip()
        if not value:
            raise ValueError(f"{path} is empty: delete it to generate a new secret")
        return value.encode()


def _port(value: str | None) -> int:
    if not value:
        return 25
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"ASSESS_SMTP_PORT must be a port number, got {value!r}") from None


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    return number


def _count(env: dict[str, str], name: str, default: int, minimum: int) -> int:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return number
