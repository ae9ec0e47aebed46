"""Small shared widgets of the panels: BOOTSTRAP editor, countdown label, metrics table."""
