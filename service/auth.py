"""Optional API keys with three scopes: ``classify``, ``review`` and ``admin``.

``classify`` is for applications that send articles (and corrections);
``review`` is for people who label: it reads the labeling queue, which hands
out stored article text, so it is not part of ``classify``; ``admin`` may do
everything, including promotions and rollbacks.

Keys are configured as sha256 hashes, never in clear, one entry per key::

    <sha256 hex of the key>:<scope>[,<scope>][:<name>]

in ``TOPICS_API_KEYS`` (entries separated by whitespace) and/or a file named by
``TOPICS_API_KEYS_FILE`` (one entry per line, ``#`` comments). Make a key with
``python -m service.auth new --scopes classify``. Clients send
``Authorization: Bearer <key>``. The key is hashed and compared with every
configured hash in constant time; neither key nor hash is ever logged.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from flask import Flask, current_app, request

from service.errors import Forbidden, Unauthorized

SCOPES = ("classify", "review", "admin")
OPEN_PATHS = {"/healthz", "/readyz"}


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its hash, scopes and a name for logs."""

    digest: bytes
    scopes: frozenset[str]
    name: str


def hash_key(key: str) -> str:
    """Return the hex sha256 of a key, as it is written in the configuration."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_entries(text: str, origin: str) -> list[ApiKey]:
    """Parse key entries; raise ValueError naming the origin and entry number of a bad one."""
    keys = []
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    entries = [entry for line in lines for entry in line.split()]
    for number, entry in enumerate(entries, start=1):
        parts = entry.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"{origin}: entry {number} is not '<sha256>:<scopes>[:<name>]'")
        digest, scopes = parts[0].lower(), frozenset(s for s in parts[1].split(",") if s)
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{origin}: entry {number} does not start with a 64-digit sha256 hex digest")
        if not scopes or not scopes <= set(SCOPES):
            raise ValueError(f"{origin}: entry {number} has scopes {sorted(scopes)}; use {', '.join(SCOPES)}")
        keys.append(ApiKey(bytes.fromhex(digest), scopes, parts[2] if len(parts) == 3 else f"key{number}"))
    return keys


def load_keys(config) -> list[ApiKey]:
    """Read the keys from TOPICS_API_KEYS and TOPICS_API_KEYS_FILE."""
    keys = parse_entries(config["TOPICS_API_KEYS"], "TOPICS_API_KEYS")
    if config["TOPICS_API_KEYS_FILE"]:
        path = Path(config["TOPICS_API_KEYS_FILE"])
        keys += parse_entries(path.read_text(encoding="utf-8"), str(path))
    return keys


def find_key(token: str, keys: Sequence[ApiKey]) -> ApiKey | None:
    """Return the key matching ``token``; every hash is compared, in constant time."""
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    found = None
    for key in keys:
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def required_scope(endpoint: str | None, path: str) -> str | None:
    """Return the scope a request needs, or None for an open path."""
    if path in OPEN_PATHS:
        return None
    if path == "/metrics":
        return "classify" if current_app.config["TOPICS_METRICS_AUTH"] else None
    if path.startswith("/v1/"):
        if endpoint and endpoint.startswith("admin."):
            return "admin"
        return "review" if endpoint and endpoint.startswith("review.") else "classify"
    return None


def _check() -> None:
    keys = current_app.extensions["topics.keys"]
    if not keys:
        return
    scope = required_scope(request.endpoint, request.path)
    if scope is None:
        return
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="topics"'}
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.", headers=challenge)
    key = find_key(token.strip(), keys)
    if key is None:
        raise Unauthorized("The API key is not valid.", headers=challenge)
    request.api_key_name = key.name
    if scope not in key.scopes and "admin" not in key.scopes:
        raise Forbidden(f"This key lacks the '{scope}' scope.")


def init_app(app: Flask) -> None:
    """Load the configured keys and check every request against them."""
    app.extensions["topics.keys"] = load_keys(app.config)
    if app.extensions["topics.keys"]:  # without keys every request is allowed: no check to run
        app.before_request(_check)


def has_admin_key(app: Flask) -> bool:
    """True when at least one configured key has the admin scope."""
    return any("admin" in key.scopes for key in app.extensions["topics.keys"])


def main(argv: Sequence[str] | None = None) -> int:
    """Make a new key, or hash an existing one read from stdin."""
    parser = argparse.ArgumentParser(prog="python -m service.auth", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="print a new random key and its configuration entry")
    new.add_argument("--scopes", default="classify", help="comma-separated: classify, review, admin")
    new.add_argument("--name", default="", help="a name for logs")
    sub.add_parser("hash", help="read a key from stdin and print its sha256")
    args = parser.parse_args(argv)
    if args.command == "hash":
        print(hash_key(sys.stdin.readline().strip()))
        return 0
    key = secrets.token_urlsafe(32)
    entry = f"{hash_key(key)}:{args.scopes}" + (f":{args.name}" if args.name else "")
    parse_entries(entry, "--scopes")
    print(f"key (give to the client, store nowhere else): {key}")
    print(f"entry (for TOPICS_API_KEYS or TOPICS_API_KEYS_FILE): {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
