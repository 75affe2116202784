"""Returns (RMA) read from eMAG ``rma/read`` (docs/emag-protocol.md, "Returns")."""
