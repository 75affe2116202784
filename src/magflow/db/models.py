"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from magflow.accounts.models import EmagAccount
from magflow.alerts.models import (
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertSubscription,
    AlertWebhook,
)
from magflow.audit.models import AuditLog
from magflow.auth.models import User
from magflow.bulk.models import BulkOperation, BulkOperationItem
from magflow.catalog.models import EmagOffer
from magflow.customers.models import EmagCustomer, EmagCustomerAccount, EmagCustomerSpend
from magflow.db.base import Base
from magflow.intake.models import IntakePoll, OrderIntake
from magflow.invoicing.models import Invoice, InvoiceSeriesCounter, InvoicingSettings
from magflow.orders.models import EmagOrder
from magflow.returns.models import EmagReturn
from magflow.sync.models import SyncLog

__all__ = [
    "AlertDelivery",
    "AlertEvent",
    "AlertRule",
    "AlertSubscription",
    "AlertWebhook",
    "AuditLog",
    "Base",
    "BulkOperation",
    "BulkOperationItem",
    "EmagAccount",
    "EmagCustomer",
    "EmagCustomerAccount",
    "EmagCustomerSpend",
    "EmagOffer",
    "EmagOrder",
    "EmagReturn",
    "IntakePoll",
    "Invoice",
    "InvoiceSeriesCounter",
    "InvoicingSettings",
    "OrderIntake",
    "SyncLog",
    "User",
]
