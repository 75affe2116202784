"""Seller performance from MagFlow's own data (formulas: :mod:`magflow.performance.service`)."""
