"""``python -m backend.apps.trading_service [--host] [--port]``."""

import sys

from backend.apps.common.runner import run_service
from backend.apps.trading_service.app import create_app

if __name__ == "__main__":
    sys.exit(run_service(create_app, "trading_service", "trading_service_port"))
