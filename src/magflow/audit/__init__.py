"""The audit log of every write MagFlow sends to eMAG."""
