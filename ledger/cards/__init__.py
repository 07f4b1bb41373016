"""Member cards (会员卡) and one-time sign-in links: ``domain`` (aggregates), ``rules`` (pure),
``errors``, ``service``.

A card names its volunteer and its serial in a signed card code (``ledger.codes``, kind ``c``);
with the volunteer's 6-digit PIN it is exchanged for a volunteer token. A sign-in link gives shop
staff and organizers a token once, within 7 days.
"""

from ledger.cards.domain import MemberCard, SigninLink

__all__ = ["MemberCard", "SigninLink"]
