"""Event sinks that show or store what the engine emits."""
