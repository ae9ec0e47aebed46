"""Skills: folders with SKILL.md and a stdlib-only Python entry point."""
