"""Activities and attendance: ``domain`` (aggregates), ``rules`` (pure), ``errors``, ``service``.

The aggregates are named here too: their stored topics say ``ledger.activities:<Class>``.
"""

from ledger.activities.domain import Activity, AttendanceRecord, Seat

__all__ = ["Activity", "AttendanceRecord", "Seat"]
