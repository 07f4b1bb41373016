"""Leaderboards of role models (道德榜样), by unit and period."""

from api.leaderboards.views import leaderboard  # the board query, also timed by ``moralbank bench``

__all__ = ["leaderboard"]
