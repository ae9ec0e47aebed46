"""`python -m backend.apps.runtime_service [--host] [--port]`."""

import sys

from backend.apps.common import run_service
from backend.apps.runtime_service.app import create_app

sys.exit(run_service(create_app, "runtime_service", "runtime_service_port"))
