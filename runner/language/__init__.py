"""The flow language: YAML with positions, the schema, pluginDefaults, parse and lint."""
