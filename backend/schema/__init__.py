"""The one shared schema: pydantic models imported by the pipeline, the
Gateway, the services and the desktop app."""
