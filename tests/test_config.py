"""Configuration from the environment (SPEC section 6a), read by dashboard.config alone."""

from __future__ import annotations

import stat
import threading

import pytest

from dashboard.config import Settings, SmtpSettings


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    data = tmp_path.resolve() / "data"
    assert settings.data_dir == data
    assert settings.data_dir.is_absolute()
    assert settings.db_url == f"sqlite:///{data}/assess.db"
    assert settings.files_url == str(data / "files")
    assert settings.exports_dir == data / "exports"
    assert settings.exports_location == str(data / "exports")  # kept where drawn
    assert settings.public_url is None  # links use the base URL the page was opened at
    assert settings.smtp is None
    assert settings.admins is None
    assert settings.jobs_url is None
    assert settings.secret_value is None
    assert (settings.download_slots, settings.download_queue, settings.download_wait) == (4, 16, 30)
    assert not data.exists()  # reading settings creates nothing


def test_empty_variables_mean_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ["DATA_DIR", "DB_URL", "FILES_URL", "SECRET", "PUBLIC_URL", "SMTP_HOST", "ADMINS"]
    settings = Settings.from_env({f"ASSESS_{name}": "" for name in names + ["JOBS_URL"]})
    assert settings == Settings.from_env({})


def test_process_environment_is_read_when_no_mapping_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSESS_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("ASSESS_ADMINS", "root")
    settings = Settings.from_env()
    assert settings.data_dir == tmp_path / "d"
    assert settings.admins == frozenset({"root"})


def test_every_variable(tmp_path):
    settings = Settings.from_env(
        {
            "ASSESS_DATA_DIR": str(tmp_path / "store"),
            "ASSESS_DB_URL": "postgresql://assess@db.example:5432/assess",
            "ASSESS_FILES_URL": "s3://bucket/images",
            "ASSESS_SECRET": "s3cr3t",
            "ASSESS_PUBLIC_URL": "https://assess.example.org/export/",
            "ASSESS_SMTP_HOST": "mail.example.org",
            "ASSESS_SMTP_PORT": "587",
            "ASSESS_SMTP_USER": "mailer",
            "ASSESS_SMTP_PASSWORD": "pw",
            "ASSESS_SMTP_FROM": "exports@example.org",
            "ASSESS_SMTP_TLS": "true",
            "ASSESS_ADMINS": " alice, bob ,,carol ",
            "ASSESS_JOBS_URL": "redis://127.0.0.1:6379/0",
            "ASSESS_EXPORTS_URL": "s3://bucket/exports/",
        }
    )
    assert settings.data_dir == tmp_path / "store"
    assert settings.exports_dir == tmp_path / "store" / "exports"
    assert settings.exports_location == "s3://bucket/exports"
    assert settings.db_url == "postgresql://assess@db.example:5432/assess"
    assert settings.files_url == "s3://bucket/images"
    assert settings.public_url == "https://assess.example.org/export"
    assert settings.smtp == SmtpSettings(
        host="mail.example.org",
        port=587,
        user="mailer",
        password="pw",
        sender="exports@example.org",
        tls=True,
    )
    assert settings.admins == frozenset({"alice", "bob", "carol"})
    assert settings.jobs_url == "redis://127.0.0.1:6379/0"
    assert settings.secret() == b"s3cr3t"
    assert not (tmp_path / "store" / "secret").exists()
    assert "s3cr3t" not in repr(settings)


def test_smtp_defaults_when_only_the_host_is_set(tmp_path):
    settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path), "ASSESS_SMTP_HOST": "mx"})
    assert settings.smtp == SmtpSettings(
        host="mx", port=25, user=None, password=None, sender="assess-export@localhost", tls=False
    )


def test_smtp_settings_without_a_host_mean_no_mail(tmp_path):
    settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path), "ASSESS_SMTP_PORT": "587"})
    assert settings.smtp is None


@pytest.mark.parametrize(
    ("value", "tls"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("on", True),
        (" true ", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
        ("enabled", False),
    ],
)
def test_smtp_tls_truthy_values(tmp_path, value, tls):
    env = {"ASSESS_DATA_DIR": str(tmp_path), "ASSESS_SMTP_HOST": "mx", "ASSESS_SMTP_TLS": value}
    assert Settings.from_env(env).smtp.tls is tls


def test_smtp_port_must_be_a_number(tmp_path):
    env = {"ASSESS_DATA_DIR": str(tmp_path), "ASSESS_SMTP_HOST": "mx", "ASSESS_SMTP_PORT": "smtp"}
    with pytest.raises(ValueError, match="ASSESS_SMTP_PORT must be a port number, got 'smtp'"):
        Settings.from_env(env)


def test_generated_secret_is_private_and_stable(tmp_path):
    settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path / "data")})
    first = settings.secret()
    path = tmp_path / "data" / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and int(first, 16) >= 0
    assert path.read_text().strip().encode() == first
    assert settings.secret() == first
    assert Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path / "data")}).secret() == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]
    other = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path / "other")}).secret()
    assert other != first


def test_secret_from_the_environment_overrides_the_file(tmp_path):
    generated = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path)}).secret()
    env = {"ASSESS_DATA_DIR": str(tmp_path), "ASSESS_SECRET": "from-env"}
    assert Settings.from_env(env).secret() == b"from-env"
    assert (tmp_path / "secret").read_text().strip().encode() == generated


def test_processes_starting_together_agree_on_one_secret(tmp_path):
    settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path / "data")})
    results: list[bytes] = []
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        try:
            results.append(settings.secret())
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1 and len(results[0]) == 64
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["secret"]


def test_an_empty_secret_file_is_refused(tmp_path):
    (tmp_path / "secret").write_text("\n")
    with pytest.raises(ValueError, match="is empty: delete it to generate a new secret"):
        Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path)}).secret()


def test_download_capacity_comes_from_the_environment_and_bad_numbers_are_refused():
    settings = Settings.from_env(
        {"ASSESS_DOWNLOAD_SLOTS": "2", "ASSESS_DOWNLOAD_QUEUE": "0", "ASSESS_DOWNLOAD_WAIT": "5"}
    )
    assert (settings.download_slots, settings.download_queue, settings.download_wait) == (2, 0, 5)
    for name, value in (("ASSESS_DOWNLOAD_SLOTS", "0"), ("ASSESS_DOWNLOAD_QUEUE", "many")):
        with pytest.raises(ValueError, match=f"{name} must be a whole number"):
            Settings.from_env({name: value})


def test_the_job_heartbeat_comes_from_the_environment_and_bad_values_are_refused():
    assert Settings.from_env({}).job_heartbeat == 10.0
    settings = Settings.from_env({"ASSESS_JOB_HEARTBEAT": "0.5"})
    assert (settings.job_heartbeat, settings.job_stale_after) == (0.5, 1.5)
    for value in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(ValueError, match="ASSESS_JOB_HEARTBEAT must be a number of seconds"):
            Settings.from_env({"ASSESS_JOB_HEARTBEAT": value})
