"""Volunteer activities (志愿活动): creation, the rotating code, attendance, approvals, settlement."""
