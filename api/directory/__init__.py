"""The console's directory: the visible unit tree with figures, and volunteers found by search."""
