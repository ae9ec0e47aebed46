"""trading_service (:8001): read-only trading data of any run (see docs/api.md)."""
