"""Per-face tracks: results of one camera turned into stable, smoothed faces over time.

- ``association``: which detection is which track (IoU and the Hungarian assignment).
- ``smoothing``: a track's emotion over time (a time-based moving average, hysteresis).
- ``tracker``: one camera's tracks: birth, coasting through misses, death.
- ``reorder``: a camera's results back in frame order within a small window.
- ``lease``: which track service owns which camera (a lease in Redis).
- ``service``: ``ferstream track``, the owner that reads results and publishes tracks.
"""
