"""news_service (:8002): headlines and decision explanations of any run (see docs/api.md)."""
