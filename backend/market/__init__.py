"""Market data providers: synthetic (embedded default), CSV, live quotes."""
