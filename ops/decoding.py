"""Turns a dead-letter message body into what support staff need to read.

Knows the envelopes this stage produces: Celery/kombu task messages (base64 JSON on SQS),
Zappa async task payloads (Lambda async invocations and SNS dispatch), SNS envelopes
(decoded recursively), S3 event notifications, EventBridge events and the workflow's
Step Functions task messages. Anything else is shown as text.

Pure functions, no database and no AWS: the archive handler calls them once per message.
Task tokens resume executions, so they are never kept in a summary, and ``redact`` masks
them wherever a body is shown.
"""

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_TOKEN_FIELD = re.compile(r'("(?:taskToken|TaskToken|task_token)"\s*:\s*")([^"]+)(")')
ORDER_KEYS = ("orderId", "order_id", "OrderId")


@dataclass
class Decoded:
    kind: str = "unknown"
    task: str = ""
    task_id: str = ""
    error_type: str = ""
    error: str = ""
    # Ids that may be orders (explicit order fields first); the archive keeps the first
    # one that is an order we know.
    order_candidates: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def mask_token(token: str) -> str:
    """Enough of a task token to tell two apart, never enough to use one."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:12]
    return f"{token[:6]}…{token[-4:]} (sha256 {digest})" if len(token) > 16 else f"… (sha256 {digest})"


def redact(text: str) -> str:
    """The body with every task token masked (for display and API output)."""
    return _TOKEN_FIELD.sub(lambda m: m.group(1) + mask_token(m.group(2)) + m.group(3), text)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def base64_json(text: str) -> Any:
    if not text or len(text) % 4 or not re.fullmatch(r"[A-Za-z0-9+/=\s]+", text):
        return None
    try:
        return _json(base64.b64decode(text, validate=False).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError):
        return None


def _attribute_value(message_attributes: dict[str, Any], name: str) -> str:
    value = message_attributes.get(name) or {}
    return value.get("StringValue") or value.get("stringValue") or ""


def _uuids_in(value: Any) -> list[str]:
    return UUID_RE.findall(json.dumps(value, default=str)) if value not in (None, "", [], {}) else []


def _explicit_orders(value: Any) -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ORDER_KEYS and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_explicit_orders(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_explicit_orders(item))
    return found


def _candidates(*values: Any) -> list[str]:
    ordered: list[str] = []
    for value in values:
        ordered.extend(_explicit_orders(value))
    for value in values:
        ordered.extend(_uuids_in(value))
    return list(dict.fromkeys(candidate.lower() for candidate in ordered if UUID_RE.fullmatch(candidate)))


def order_candidates(*values: Any) -> list[str]:
    """Ids among ``values`` (a task's arguments, a payload) that may be orders: those under
    an order key first, then any UUID, lower-cased, each once."""
    return _candidates(*values)


def decode(
    body: str, attributes: dict[str, Any] | None = None, message_attributes: dict[str, Any] | None = None
) -> Decoded:
    """Decode one message. Never raises: an unreadable body decodes as ``unknown``."""
    attributes = attributes or {}
    message_attributes = message_attributes or {}
    decoded = _decode_payload(body, depth=0)
    # Lambda puts the failure of an async invocation in the message attributes.
    error_code = _attribute_value(message_attributes, "ErrorCode")
    error_message = _attribute_value(message_attributes, "ErrorMessage")
    if error_code or error_message:
        decoded.error_type = decoded.error_type or f"Lambda error {error_code}".strip()
        decoded.error = decoded.error or error_message
        request_id = _attribute_value(message_attributes, "RequestID")
        if request_id:
            decoded.summary["lambdaRequestId"] = request_id
    return decoded


def _decode_payload(body: str, depth: int) -> Decoded:
    data = _json(body)
    if data is None:
        data = base64_json(body)
    if isinstance(data, dict):
        for recogniser in (_celery, _zappa, _sns, _s3, _step_task, _eventbridge):
            result = recogniser(data, depth)
            if result is not None:
                return result
        return Decoded(kind="unknown", summary={"fields": sorted(data)[:20]}, order_candidates=_candidates(data))
    text = body if isinstance(body, str) else str(body)
    return Decoded(kind="unknown", summary={"text": text[:500]}, order_candidates=_candidates(text))


def _celery(data: dict[str, Any], depth: int) -> Decoded | None:
    headers = data.get("headers")
    properties = data.get("properties")
    if not isinstance(headers, dict) or not isinstance(properties, dict) or "body" not in data:
        return None
    raw_body = data["body"]
    if properties.get("body_encoding") == "base64" and isinstance(raw_body, str):
        try:
            raw_body = base64.b64decode(raw_body).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raw_body = None
    payload = _json(raw_body) if isinstance(raw_body, str) else raw_body
    if "task" in headers:  # task protocol 2: body is [args, kwargs, embed]
        task, task_id, retries = headers.get("task", ""), headers.get("id", ""), headers.get("retries", 0)
        args, kwargs = (payload[0], payload[1]) if isinstance(payload, list) and len(payload) >= 2 else (None, None)
        extra = {"eta": headers.get("eta"), "expires": headers.get("expires"), "rootId": headers.get("root_id")}
        extra["parentId"] = headers.get("parent_id")
        extra["origin"] = headers.get("origin")
    elif isinstance(payload, dict) and "task" in payload:  # protocol 1
        task, task_id, retries = payload.get("task", ""), payload.get("id", ""), payload.get("retries", 0)
        args, kwargs, extra = payload.get("args"), payload.get("kwargs"), {"eta": payload.get("eta")}
    else:
        return None
    summary = {
        "args": args,
        "kwargs": kwargs,
        "retries": retries,
        "routingKey": (properties.get("delivery_info") or {}).get("routing_key", ""),
        **{key: value for key, value in extra.items() if value},
    }
    return Decoded(
        kind="celery",
        task=str(task),
        task_id=str(task_id),
        summary=summary,
        order_candidates=_candidates(kwargs, args),
    )


def _zappa(data: dict[str, Any], depth: int) -> Decoded | None:
    if "task_path" not in data or "args" not in data:
        return None
    command = data.get("command", "")
    summary = {
        "args": data.get("args"),
        "kwargs": data.get("kwargs"),
        "dispatch": "sns" if command.endswith("route_sns_task") else "lambda",
        "captureResponse": bool(data.get("capture_response")),
    }
    if data.get("response_id"):
        summary["responseId"] = data["response_id"]
    return Decoded(
        kind="zappa",
        task=str(data["task_path"]),
        summary=summary,
        order_candidates=_candidates(data.get("kwargs"), data.get("args")),
    )


def _sns(data: dict[str, Any], depth: int) -> Decoded | None:
    if data.get("Type") != "Notification" or "Message" not in data or "TopicArn" not in data:
        return None
    topic = str(data["TopicArn"]).rsplit(":", 1)[-1]
    inner = _decode_payload(data["Message"], depth + 1) if depth < 2 else Decoded(summary={"text": data["Message"]})
    attributes = {name: value.get("Value") for name, value in (data.get("MessageAttributes") or {}).items()}
    summary = {
        "topic": topic,
        "snsMessageId": data.get("MessageId", ""),
        "subject": data.get("Subject") or "",
        "timestamp": data.get("Timestamp", ""),
        "messageAttributes": attributes,
        "inner": {"kind": inner.kind, "task": inner.task, **inner.summary},
    }
    return Decoded(
        kind="sns",
        task=inner.task or f"sns:{topic}",
        task_id=inner.task_id,
        error_type=inner.error_type,
        error=inner.error,
        summary=summary,
        order_candidates=_candidates(attributes) + inner.order_candidates,
    )


def _s3(data: dict[str, Any], depth: int) -> Decoded | None:
    records = data.get("Records")
    if (
        not isinstance(records, list)
        or not records
        or not all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records)
    ):
        return None
    objects = []
    for record in records:
        s3 = record.get("s3", {})
        objects.append(
            {
                "event": record.get("eventName", ""),
                "bucket": s3.get("bucket", {}).get("name", ""),
                # S3 sends keys URL-encoded (slashes too).
                "key": unquote_plus(s3.get("object", {}).get("key", "")),
                "size": s3.get("object", {}).get("size"),
            }
        )
    return Decoded(
        kind="s3",
        task=f"s3:{objects[0]['event']}",
        summary={"objects": objects},
        order_candidates=_candidates([item["key"] for item in objects]),
    )


def _step_task(data: dict[str, Any], depth: int) -> Decoded | None:
    if "taskToken" not in data or "step" not in data:
        return None
    summary = {
        key: value for key, value in data.items() if key not in {"taskToken"} and not isinstance(value, (dict, list))
    }
    summary["taskToken"] = mask_token(str(data["taskToken"]))
    summary["taskTokenSha256"] = hashlib.sha256(str(data["taskToken"]).encode()).hexdigest()
    execution = str(data.get("executionArn", ""))
    return Decoded(
        kind="stepfunctions",
        task=str(data["step"]),
        task_id=execution.rsplit(":", 1)[-1] if execution else "",
        summary=summary,
        order_candidates=_candidates({"orderId": data.get("orderId")}),
    )


def _eventbridge(data: dict[str, Any], depth: int) -> Decoded | None:
    if "detail-type" not in data or "source" not in data:
        return None
    detail = data.get("detail") or {}
    return Decoded(
        kind="eventbridge",
        task=f"{data['source']}: {data['detail-type']}",
        summary={"eventId": data.get("id", ""), "time": data.get("time", ""), "resources": data.get("resources", [])},
        order_candidates=_candidates(detail),
    )


_VARIABLE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27}|\d+", re.IGNORECASE)


# SQS system attributes that hold epoch milliseconds (SentTimestamp and the like).
_TIMESTAMP_ATTRIBUTE = re.compile(r"Timestamp$")


def sqs_attribute_rows(attributes: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A message's SQS system attributes for reading: (name, value as read, raw value).
    Timestamps (SentTimestamp, ApproximateFirstReceiveTimestamp: epoch milliseconds)
    read as UTC dates to the second; a value that is not a number is left as it is."""
    rows = []
    for name, value in sorted((attributes or {}).items()):
        raw = str(value)
        shown = raw
        if _TIMESTAMP_ATTRIBUTE.search(name) and raw.isdigit():
            try:
                shown = datetime.fromtimestamp(int(raw) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            except (OverflowError, OSError, ValueError):
                pass
        rows.append((name, shown, raw))
    return rows


def fingerprint(kind: str, task: str, error_type: str, error: str) -> str:
    """The grouping key: same task and same error once numbers and ids are taken out."""
    first_line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    normalised = _VARIABLE.sub("#", first_line)[:300]
    return hashlib.sha1(f"{kind}|{task}|{error_type}|{normalised}".encode()).hexdigest()
