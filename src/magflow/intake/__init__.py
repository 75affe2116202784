"""Order intake: eMAG's callbacks, auto-acknowledgement, the catch-up poll (and, alongside,
deadlines and the to-do list)."""
