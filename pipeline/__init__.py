"""partner-review: quarterly partnership reviews from the workbooks partnership teams keep.

The flow, one module per stage::

    discover -> safety -> read -> sheets/values -> load (reconcile) -> analyse -> charts -> render
    -> outputs -> distribute

`pipeline.cli` is a thin Click layer over these modules.
"""
from __future__ import annotations

__version__ = "0.1.0"
