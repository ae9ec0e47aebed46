"""The control plane's logic: which runs exist and which Gateway serves each.

``RuntimeController`` creates runs from workspaces, launches, restarts
(``gateway_restart``) and stops one Gateway per active run through a
launcher (``gateway_launchers``: a child process of the process supervisor,
a docker container, or a Kubernetes Pod plus Service), tells clients the URL
each Gateway is reached at, and relays commands to it (``gateway_command``).
runtime_service serves it over HTTP (``backend/apps/runtime_service``); the
desk embeds the same service in-process.
"""
