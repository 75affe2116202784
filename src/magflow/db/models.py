"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from magflow.accounts.models import EmagAccount
from magflow.auth.models import User
from magflow.catalog.models import EmagProduct
from magflow.customers.models import EmagCustomer, EmagCustomerAccount
from magflow.db.base import Base
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncLog

__all__ = [
    "Base",
    "EmagAccount",
    "EmagCustomer",
    "EmagCustomerAccount",
    "EmagOrder",
    "EmagProduct",
    "SyncLog",
    "User",
]
