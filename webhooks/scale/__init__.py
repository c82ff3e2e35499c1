"""Scale-out: `flows serve --broker redis://…` hands runs to `flows worker` processes.

Dramatiq with its Redis broker carries the runs (broker.py, its only importer): messages
held by a worker whose heartbeat stops are delivered again. Exactly-once comes from a run
ledger in Redis (redisio.py, the only importer of redis): enqueue is once per run key
(replicas, cron ticks, webhook redeliveries), a delivery runs only after claiming its key,
and a claim of a dead worker's run records the dead attempt KILLED before running again.
"""
