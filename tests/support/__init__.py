"""Helpers shared by every test area."""
