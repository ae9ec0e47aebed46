"""The EvoAgent team: six roles, each with a `rules` or `llm` policy."""
