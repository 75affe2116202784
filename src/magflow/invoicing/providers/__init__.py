"""Invoicing providers behind one interface (``providers.base.Provider``)."""
