"""Trigger semantics: git push/PR/tag filters, Schedule, Flow and Webhook triggers, polled plugin triggers."""
