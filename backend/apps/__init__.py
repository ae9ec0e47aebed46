"""The HTTP services: agent_service (:8000), trading_service (:8001),
news_service (:8002), runtime_service (:8003), all built on ``backend.apps.common``."""
