"""Training code for the throughput correction (not shipped in the wheel)."""
