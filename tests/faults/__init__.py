"""Fault injection against real processes: redis-server, a worker pool and producers."""
