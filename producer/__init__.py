"""Capturing frames (cameras, files, streams, synthetic scenes) and submitting them to Redis."""
