"""The merchant alliance (道德联盟商家): merchants, offers, pay codes, redemptions, statements."""
