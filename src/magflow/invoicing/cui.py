"""Romanian fiscal code (CUI / CIF) check digit.

A CUI is 2 to 10 digits, optionally prefixed with ``RO`` (VAT payers); the last digit is a control
digit computed from the others with the key ``753217532``:

1. take the digits before the control digit and pad them on the left with zeros to 9 digits;
2. multiply each by the key digit at the same position and add the products;
3. multiply the sum by 10 and take the remainder of the division by 11; a remainder of 10 gives 0.

Worked examples (docs/invoicing-providers.md, "CUI check digit"):

- ``RO18547290``: body ``1854729`` → ``001854729``; products with ``753217532``:
  0·7 + 0·5 + 1·3 + 8·2 + 5·1 + 4·7 + 7·5 + 2·3 + 9·2 = 111; 111·10 = 1110; 1110 mod 11 = 10 → 0.
  The control digit is 0: valid.
- ``14399840``: body ``1439984`` → ``001439984``; 0 + 0 + 3 + 8 + 3 + 63 + 45 + 24 + 8 = 154;
  1540 mod 11 = 0: valid.
- ``14399841``: same body, control 1 ≠ 0: invalid.
"""

from __future__ import annotations

import re

KEY = "753217532"
_SHAPE = re.compile(r"^(?:RO)?\s*(\d{2,10})$", re.IGNORECASE)


def control_digit(body: str) -> int:
    """The control digit of ``body`` (the CUI without its last digit, at most 9 digits)."""
    padded = body.rjust(9, "0")
    total = sum(int(d) * int(k) for d, k in zip(padded, KEY, strict=True))
    rest = total * 10 % 11
    return 0 if rest == 10 else rest


def normalise(value: str) -> str:
    """``value`` without spaces and ``RO`` (digits only), or ``""`` if not a CUI shape."""
    match = _SHAPE.match(value.strip().replace(" ", ""))
    return match.group(1) if match else ""


def is_valid(value: str | None) -> bool:
    digits = normalise(value or "")
    if not digits:
        return False
    return control_digit(digits[:-1]) == int(digits[-1])


def with_check_digit(body: str) -> str:
    """``body`` followed by its control digit (the simulator and tests build valid CUIs so)."""
    return f"{body}{control_digit(body)}"
