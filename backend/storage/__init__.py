"""Files on disk: atomic writes, the runs/ store and the workspaces/ registry."""
