"""agent_service (:8000): workspaces, agents and skills, human approvals (see docs/api.md)."""
