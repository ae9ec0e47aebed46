"""The trading pipeline (one day) and the run engine (all days of a run)."""
