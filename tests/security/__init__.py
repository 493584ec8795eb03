"""Least privilege and TLS against a real redis-server 7 (Debian's): ACL users, refusals,
verified certificates, and no secret in logs, metrics, argv, job data or errors."""
