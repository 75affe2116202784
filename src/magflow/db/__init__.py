"""Database engine, sessions and migrations."""
