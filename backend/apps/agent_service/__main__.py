"""`python -m backend.apps.agent_service [--host] [--port]`."""

import sys

from backend.apps.agent_service.app import create_app
from backend.apps.common import run_service

sys.exit(run_service(create_app, "agent_service", "agent_service_port"))
