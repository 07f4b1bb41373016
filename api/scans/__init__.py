"""Scans (POST /v1/scans): a volunteer scans a code; its kind picks the handler."""
