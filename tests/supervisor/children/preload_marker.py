"""Imported by the fork server in the tests: a forked child finds it already in sys.modules."""
