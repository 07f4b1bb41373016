"""The web pages (static HTML and scripts over the same JSON API)."""
