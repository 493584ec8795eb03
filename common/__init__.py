"""What producers, workers and training must agree on: wire format, settings, errors, Redis."""
