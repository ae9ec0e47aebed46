"""Importing runs written by the earlier EvoTraders layout (``evotraders import-legacy``)."""
