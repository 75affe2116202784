"""Request bodies as eMAG's PHP server reads them
(docs/emag-protocol.md, "Requests and authentication", "Rate and size limits").

Accepted forms, all of them observed working in the wild
(docs/emag-protocol.md, "Requests and authentication"):

(a) JSON ``{"data": <payload>}``; when ``data`` is an object, other top-level keys are merged in
    (``data`` wins on a clash), when it is a list the list is the payload;
(b) JSON with the filters at the top level, no ``data``;
(c) form-encoded PHP bracket notation, ``data[currentPage]=1&data[status][]=1`` or top-level
    ``currentPage=1&status=4`` (the official example uses ``http_build_query``);
(d) a raw JSON array (saves).

The query string is read the same way (``GET documentation/find_by_eans?eans[]=...``) and merged
under the body. [T451]'s claim that a ``data``-wrapped filter is ignored for JSON reads is UNCERTAIN
and contradicts the official example: we take the tolerant reading and honour it.

Input vars ("Maximum input vars of 4000 exceeded", docs/emag-protocol.md, "Rate and size limits"):
for form bodies, the number of fields, as PHP's ``max_input_vars`` counts them; for JSON, the number
of leaf values (UNCERTAIN: PHP does not apply ``max_input_vars`` to a JSON body, but eMAG documents
the limit per request, so we apply it to the equivalent count).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

MAX_INPUT_VARS = 4000

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


class BodyError(ValueError):
    """The body could not be read (invalid JSON or a broken form)."""


def _set_php(root: dict[str, Any], key: str, value: str) -> None:
    """Assign ``value`` at the PHP bracket path ``key`` (``a[b][]``) inside ``root``."""
    first, _, rest = key.partition("[")
    if not first:
        return
    if not rest:
        root[first] = value
        return
    parts = [first, *_BRACKET.findall("[" + rest)]
    node: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part == "":
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child


def _listify(value: Any) -> Any:
    """Dicts whose keys are all 0..n-1 become lists (PHP arrays are both)."""
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            keys = sorted(converted, key=int)
            if [int(k) for k in keys] == list(range(len(keys))):
                return [converted[k] for k in keys]
        return converted
    return value


def parse_form(text: str) -> tuple[dict[str, Any], int]:
    """Parse ``application/x-www-form-urlencoded`` with PHP bracket keys; returns (data, vars)."""
    pairs = parse_qsl(text, keep_blank_values=True)
    root: dict[str, Any] = {}
    for key, value in pairs:
        _set_php(root, key, value)
    result = _listify(root)
    assert isinstance(result, dict)
    return result, len(pairs)


def count_leaves(value: Any, limit: int = MAX_INPUT_VARS + 1) -> int:
    """Leaf values of a JSON document (empty containers count as one), stopping past ``limit``."""
    count = 0
    stack = [value]
    while stack and count < limit:
        item = stack.pop()
        if isinstance(item, dict):
            if item:
                stack.extend(item.values())
            else:
                count += 1
        elif isinstance(item, list):
            if item:
                stack.extend(item)
            else:
                count += 1
        else:
            count += 1
    return count


def unwrap(raw: Any) -> Any:
    """Apply the ``data`` rule of form (a): the payload is ``data`` merged with top-level keys."""
    if isinstance(raw, dict) and "data" in raw:
        data = raw["data"]
        if isinstance(data, dict):
            merged = {k: v for k, v in raw.items() if k != "data"}
            merged.update(data)
            return merged
        if isinstance(data, list):
            return data
        if data in (None, "", []):
            return {k: v for k, v in raw.items() if k != "data"}
        if isinstance(data, str):
            # A JSON document sent as a string field (``data=<json>`` in a form).
            try:
                return unwrap({"data": json.loads(data)})
            except ValueError:
                return raw
    return raw


def parse_body(body: bytes, content_type: str, query: str = "") -> tuple[Any, int]:
    """Parse a request into its payload (a dict or a list) and its input-var count."""
    payload: Any = {}
    n_vars = 0
    text = body.decode("utf-8", errors="replace").strip() if body else ""
    ctype = content_type.split(";")[0].strip().lower()
    if text:
        is_form = ctype == "application/x-www-form-urlencoded" or (
            ctype not in ("application/json", "text/json") and text[:1] not in ("{", "[")
        )
        if ctype == "multipart/form-data":
            raise BodyError("multipart bodies are not supported")
        if is_form:
            payload, n_vars = parse_form(text)
        else:
            try:
                payload = json.loads(text)
            except ValueError as exc:
                raise BodyError(f"Invalid JSON: {exc}") from exc
            n_vars = count_leaves(payload)
            if not isinstance(payload, dict | list):
                raise BodyError("The request body must be a JSON object or array")
    if query:
        q_data, q_vars = parse_form(query)
        n_vars += q_vars
        if isinstance(payload, dict):
            payload = {**q_data, **payload}
    return unwrap(payload), n_vars
