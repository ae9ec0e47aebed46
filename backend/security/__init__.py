"""Tokens and roles shared by the services and the Gateway."""
