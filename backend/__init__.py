"""Qt-free core of EvoTraders Control Center: settings, schema, storage,
market data, agents, pipeline and the HTTP services."""

__version__ = "0.1.0"
