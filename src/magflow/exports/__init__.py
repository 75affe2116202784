"""Streamed CSV/XLSX exports of orders, offers and customers."""
