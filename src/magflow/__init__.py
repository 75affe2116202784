"""MagFlow: operations hub for eMAG marketplace sellers."""

__version__ = "0.1.0"
