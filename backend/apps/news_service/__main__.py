"""``python -m backend.apps.news_service [--host] [--port]``."""

import sys

from backend.apps.common.runner import run_service
from backend.apps.news_service.app import create_app

if __name__ == "__main__":
    sys.exit(run_service(create_app, "news_service", "news_service_port"))
