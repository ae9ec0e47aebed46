"""Read models of runs, free of Qt and of any web framework.

trading_service and news_service serve them over HTTP; the desktop app and
the CLI may use them directly on a local ``runs/`` folder.
"""
