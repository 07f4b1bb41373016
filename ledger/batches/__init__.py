"""Welfare-day batches: ``domain`` (the aggregate), ``rules`` (pure, per line), ``files`` (reading
an upload), ``errors``, ``spool`` (keeping an upload on disk) and ``service`` (running, resuming,
reversing).

The aggregate is named here too: its stored topics say ``ledger.batches:Batch.<Event>``.
"""

from ledger.batches.domain import Batch

__all__ = ["Batch"]
