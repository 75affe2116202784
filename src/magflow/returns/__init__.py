"""Returns (RMA) read from eMAG ``rma/read`` (EMAG_API.md §5.14)."""
