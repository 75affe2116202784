"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from magflow.accounts.models import EmagAccount
from magflow.audit.models import AuditLog
from magflow.auth.models import User
from magflow.bulk.models import BulkOperation, BulkOperationItem
from magflow.catalog.models import EmagOffer
from magflow.customers.models import EmagCustomer, EmagCustomerAccount
from magflow.db.base import Base
from magflow.orders.models import EmagOrder
from magflow.pricing.models import (
    CategoryCommission,
    OfferCost,
    OfferHistory,
    OrderLine,
    OrderLinesWatermark,
    PricingDecision,
    PricingRule,
    PricingRun,
    PricingSettings,
    RuleState,
)
from magflow.returns.models import EmagReturn
from magflow.sync.models import SyncLog

__all__ = [
    "AuditLog",
    "Base",
    "BulkOperation",
    "BulkOperationItem",
    "CategoryCommission",
    "EmagAccount",
    "EmagCustomer",
    "EmagCustomerAccount",
    "EmagOffer",
    "EmagOrder",
    "EmagReturn",
    "OfferCost",
    "OfferHistory",
    "OrderLine",
    "OrderLinesWatermark",
    "PricingDecision",
    "PricingRule",
    "PricingRun",
    "PricingSettings",
    "RuleState",
    "SyncLog",
    "User",
]
