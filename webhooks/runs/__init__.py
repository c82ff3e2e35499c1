"""Runs in the server: the durable queue, the local worker, records, re-runs and reporting."""
