"""The merchant alliance: merchants, offers, pay codes, redemptions, statements (issue 6)."""
