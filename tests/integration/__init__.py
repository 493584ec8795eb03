"""End-to-end tests: real worker processes, real producers, one real Redis."""
