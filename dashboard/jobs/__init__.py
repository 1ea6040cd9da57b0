"""Background exports (Annotated Files) on Huey: state in the store, work in workers.

- ``records``: the job rows (create, claim, progress, finish) — what the UI reads.
- ``tasks``: the Huey queue (embedded SQLite by default, Redis with ASSESS_JOBS_URL) with its
  tasks, made by ``queue(settings)`` at first use; ``start_background_work`` runs workers
  inside the served app (from the server's start-up).
- ``delivery``: the email with the download link, retried until it goes through.
"""
