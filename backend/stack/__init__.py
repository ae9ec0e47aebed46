"""The local stack: the four services (and the Gateways runtime_service spawns) on this machine.

``LocalStack`` runs the processes (ports, lock file, health); ``StackLauncher``
decides whether to start one, attach to one another process runs, or report
the ports that are taken, and starts runs on it. ``evotraders stack`` and
the desk both use them.
"""
