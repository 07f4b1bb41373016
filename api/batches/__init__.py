"""Welfare-day batches (公益日批量发放): upload, progress, refused lines, reversal."""
