"""The offline, deterministic `rules` policy of each role."""
