"""The dashboard on the web: the page (``app``), its views (``ui/``), the download and help
routes (``routes``) and serving it to a team (``server``: headers, login, origins, threads,
and the start-up hook, the one place a served process starts its background work)."""
