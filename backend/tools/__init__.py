"""Tools the runtime uses to act: the sandboxed skill executor."""
