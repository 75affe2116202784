"""Bulk offer updates (light offer API) and stock-only updates."""
