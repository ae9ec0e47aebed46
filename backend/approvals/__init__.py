"""Human approvals of orders: policy, durable store (agent_service), Gateway gate and API client.

Free of Qt and of FastAPI: the service routes live in ``backend/apps/agent_service``.
"""
