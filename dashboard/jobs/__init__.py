"""Background exports (Annotated Files) on Huey: state in the store, work in workers.

- ``records``: the job rows (create, claim, progress, finish) — what the UI reads.
- ``tasks``: the Huey instance (embedded SQLite by default, Redis with ASSESS_JOBS_URL) and
  its tasks; ``start_embedded_consumer`` runs workers inside the served app.
- ``delivery``: the email with the download link, retried until it goes through.
"""
