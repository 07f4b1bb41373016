"""Member cards, PIN sign-in, one-time sign-in links and printable card sheets (issue 14)."""
