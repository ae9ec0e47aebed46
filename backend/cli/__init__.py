"""The `evotraders` command."""
