"""Personal data of eMAG customers, masked for viewers.

Viewers see the business (orders, totals, statuses) but not who the customers are: a name
becomes its initials (``Ana Maria Popescu`` → ``A. M. P.``), a phone its last three digits
(``•••••••123``), an email or a street address ``•••``. Operators and admins see everything. The
customer listing and detail, the order listing and detail, and the order export apply this.
"""

from __future__ import annotations

import re
from typing import Any

from magflow.auth.models import Role, User

HIDDEN = "•••"
_PHONE_KEY = re.compile(r"(:phone:)(.*)$")


def sees_personal_data(user: User) -> bool:
    try:
        return Role(user.role).rank > Role.viewer.rank
    except ValueError:
        return False


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    initials = [part[0].upper() + "." for part in re.split(r"[\s\-]+", name.strip()) if part]
    return " ".join(initials) or HIDDEN


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    return "•" * max(len(digits) - 3, 3) + digits[-3:] if len(digits) > 3 else HIDDEN


def mask_customer_key(key: str | None) -> str | None:
    """Keys built from a phone number (``ro:phone:0722...``) show only its last digits."""
    if not key:
        return key
    return _PHONE_KEY.sub(lambda m: m.group(1) + (mask_phone(m.group(2)) or ""), key)


def _masked_value(field: str, value: Any) -> Any:
    name = field.lower()
    if isinstance(value, dict):
        return mask_document(value)
    if isinstance(value, list):
        return [_masked_value(field, item) for item in value]
    if not isinstance(value, str) or not value:
        return value
    if "phone" in name or "fax" in name:
        return mask_phone(value)
    if any(word in name for word in ("name", "contact", "person")):
        return mask_name(value)
    if any(word in name for word in ("email", "street", "address", "code", "iban", "bank")):
        return HIDDEN
    return value


def mask_document(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """An eMAG customer document (order ``customer``) with names, phones, emails, streets,
    fiscal codes and bank details masked; places (city, county, country) kept."""
    if document is None:
        return None
    return {key: _masked_value(str(key), value) for key, value in document.items()}
