"""runtime_service (:8003): runtime lifecycle over the RuntimeController."""
