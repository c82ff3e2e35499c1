"""The engine: runs a flow to a terminal state (run state, task context, inputs, retries, secrets)."""
