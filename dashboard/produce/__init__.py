"""The producers: records and Arrow tables in, bytes out (no SQL, no UI).

- ``tables``: the wide pivot and spreadsheet safety; ``writers``: CSV and Parquet.
- ``archive``: the streaming ZIP writer, the manifest and the Files ZIP.
- ``drawing``: annotations drawn on an image; ``annotated``: the Annotated Files ZIP.

They take what the query layer streams (``dashboard.spec.records``, the long table) and never
import the query layer; ``dashboard.export`` joins the two.
"""
