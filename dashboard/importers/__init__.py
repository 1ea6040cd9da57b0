"""Data in: each importer reads one outside format and writes through ``dashboard.store.writer``
(the one place rows are created), all or nothing.

- ``coco``: COCO JSON with its images (boxes and polygons, a taxonomy from the file or given).
- ``long_csv``: the long CSV this product exports (SPEC 3.1), back into a store, byte for byte.
- ``demo``: the demo workflow, generated and painted (a harbour inspection with reviews).
"""
