#!/usr/bin/env python3
"""Parses one RFC 5322 message from stdin with Python's standard `email`
package (an independent parser for the composer tests) and prints JSON:
headers, parsed addresses, the MIME tree in walk order, and every leaf's
decoded bytes (base64), file name, disposition and Content-ID.

With --batch, stdin is a JSON array of base64-encoded messages and the
output is a JSON array of results (one process for many messages)."""
import base64
import json
import sys
from email import message_from_bytes, policy
from email.utils import getaddresses

def addresses(msg, name):
    values = msg.get_all(name)
    if not values:
        return None
    out = []
    for value in values:
        for group in value.groups:
            for a in group.addresses:
                out.append({"name": a.display_name, "address": a.addr_spec,
                            "group": group.display_name})
    return out


def defects(part):
    return [type(d).__name__ for d in part.defects]


def parse(raw):
    msg = message_from_bytes(raw, policy=policy.default)
    parts = []
    tree = []
    for part in msg.walk():
        tree.append(part.get_content_type())
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        parts.append({
            "contentType": part.get_content_type(),
            "charset": part.get_content_charset(),
            "filename": part.get_filename(),
            "disposition": part.get_content_disposition(),
            "contentId": part.get("Content-ID"),
            "cte": part.get("Content-Transfer-Encoding"),
            "body": base64.b64encode(payload).decode("ascii"),
            "defects": defects(part),
        })

    return {
        "headers": [[k, str(v)] for k, v in msg.items()],
        "subject": msg.get("Subject"),
        "from": addresses(msg, "From"),
        "sender": addresses(msg, "Sender"),
        "to": addresses(msg, "To"),
        "cc": addresses(msg, "Cc"),
        "bcc": addresses(msg, "Bcc"),
        "replyTo": addresses(msg, "Reply-To"),
        "messageId": msg.get("Message-ID"),
        "date": msg.get("Date"),
        "tree": tree,
        "parts": parts,
        "defects": defects(msg),
    }


if len(sys.argv) > 1 and sys.argv[1] == "--batch":
    items = json.loads(sys.stdin.buffer.read())
    print(json.dumps([parse(base64.b64decode(i)) for i in items], ensure_ascii=False))
else:
    print(json.dumps(parse(sys.stdin.buffer.read()), ensure_ascii=False))
