"""Importing a roster of volunteers from a spreadsheet (CSV)."""
