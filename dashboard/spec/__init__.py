"""The product's vocabulary, from SPEC.md: no IO, and it imports nothing else of ours.

- ``options``: the export options (scope, layout, filters), their labels and help, the
  columns of the long and wide layouts, NO_CONFIDENCE.
- ``spreadsheet``: the spreadsheet-safety rule and its inverse.
- ``colours``: the object class palette.

Everything above (store, importers, query, producers, front ends) may import it; an import
contract (``pyproject.toml``) keeps it at the bottom.
"""
