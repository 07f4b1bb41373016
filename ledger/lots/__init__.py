"""Lots: every credit to a volunteer opens one; every debit draws from them, soonest expiry first,
then oldest; expired points go to the issuing unit's ``expired`` account (``ledger.lots.rules`` for
the dates, ``ledger.lots.model`` for drawings and what the store writes, ``ledger.lots.expiry`` for
the runs)."""
