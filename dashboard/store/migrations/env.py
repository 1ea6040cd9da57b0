"""Alembic environment: runs on the engine handed over by ``dashboard.store.db.migrate``.

On SQLite, a batch migration copies a table and drops the old one; with foreign keys on,
that drop would cascade into the tables that refer to it (dropping ``annotation`` deletes
every attribute value). So foreign keys are off while migrations run (the pragma only works
outside a transaction), checked afterwards, and on again before the connection goes back.
"""

from alembic import context
from sqlalchemy import create_engine

from dashboard.store.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
