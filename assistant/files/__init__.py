"""Files: where the engine keeps what it writes, and how it writes it.

Owns the per-user directories under ``ASSISTANT_HOME`` (``paths``) and the locked, atomic, versioned JSON
store every persisted file goes through (``store``: lock, read, change, write a temp file, fsync, replace).
May import only ``assistant.errors``.
"""
