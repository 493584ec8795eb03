"""Workers: turn queued frames into published emotion results."""
