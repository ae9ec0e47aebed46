"""`python -m gateway`: see gateway/cli.py."""

import sys

from gateway.cli import main

sys.exit(main())
