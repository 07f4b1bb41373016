"""Volunteers (志愿者): registration by organizers, their accounts and entries, a volunteer's own."""
