"""Typed async HTTP clients of the four services (``http.ServiceClient`` + one class per service).

Used by the desk (``app/``), ``evotraders stack up`` and anything else that
speaks to a running stack; each answer is the services' JSON, each failure a
``ServiceError`` naming the service and the status.
"""
