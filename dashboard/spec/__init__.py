"""The product's vocabulary, from SPEC.md: no IO, and nothing of ours below it but ``errors``.

- ``options``: the export options (scope, layout, filters), their labels and help, the
  columns of the long and wide layouts, NO_CONFIDENCE.
- ``schemas``: the Arrow schemas of the long and wide layouts.
- ``records``: the plain records the query layer streams to the producers (a file, an
  overlay to draw, an image of the Annotated Files ZIP).
- ``naming``: archive member names and their uniqueness (SPEC 3.4, 3.5).
- ``geometry``: WKT in pixel coordinates, parsed, checked and spelled one way (SPEC 2).
- ``spreadsheet``: the spreadsheet-safety rule and its inverse.
- ``colours``: the object class palette.

Everything above (store, importers, query, producers, front ends) may import it; an import
contract (``pyproject.toml``) keeps it at the bottom.
"""
