"""The skill sandbox: where a run's skills run, and how isolated they are.

One package, no import cycle (modules listed bottom-up):

- ``limits`` -- :class:`SandboxLimits` and reading them from the settings.
- ``base`` -- :class:`SandboxBackend`, the interface of every backend.
- ``runner``, ``outcome``, ``staging``, ``isolation`` -- what the isolating
  backends share: the standard-library runner started next to the skill, the
  mapping of what came back to a ``SkillResult``, the staged copy of a skill,
  the confined subprocess (bubblewrap + rlimits).
- backends: ``in_process`` (``none``), ``process``, ``docker_backend``,
  ``kubernetes_backend``.
- ``executor`` -- :class:`SkillExecutor`, the one way the pipeline calls skills.
- ``floor`` and ``settings_store`` -- the operator's mode is a floor; the
  saved sandbox settings (``PUT /sandbox/settings``).
- ``factory`` -- a backend by mode name, and the executor of a run.
- ``probe`` -- run the probe skill in a mode and report what it saw.

Results (``SkillResult``, ``SkillError``) and the effective choice of a run
(``EffectiveSandbox``) are schema: ``backend/schema/sandbox.py``. This
``__init__`` imports nothing, so importing one backend loads only what it uses.
"""
