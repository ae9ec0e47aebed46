#!/usr/bin/env bash
# Start all services including runtime_service, which spawns the Gateway
# (the split-service development architecture). Bootstraps .venv on first use.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")"
exec ./dev stack up "$@"
