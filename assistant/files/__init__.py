"""Files: where the engine keeps what it writes, and how it writes it.

Owns the per-user directories under ``ASSISTANT_HOME`` (``paths``) and the locked, atomic, versioned JSON
store every persisted file goes through (``store``: lock, read, change, write a temp file, fsync, replace),
and the engine's own threads for that blocking work (``blocking.run_blocking``).
May import only ``assistant.errors``.
"""
