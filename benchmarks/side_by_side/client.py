"""A tiny keep-alive JSON client for setting servers up (stdlib only)."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit


class Client:
    def __init__(self, base_url: str, token: str = "") -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = None if body is None else json.dumps(body)
        self.connection.request(method, path, body=payload, headers=headers)
        answer = self.connection.getresponse()
        raw = answer.read()
        headers = {name.lower(): value for name, value in answer.getheaders()}
        return answer.status, headers, json.loads(raw) if raw else None

    def close(self) -> None:
        self.connection.close()


def login(base_url: str, email: str, password: str) -> str:
    client = Client(base_url)
    try:
        status, _, body = client.call(
            "POST", "/api/v1/auth/login", {"email": email, "password": password}
        )
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"login as {email} at {base_url}: {status} {body}")
    return str(body["access_token"])


def create_products(base_url: str, token: str, count: int, parallel: int = 4) -> None:
    """`count` products with skus SEED-00001…; a 409 (already there) counts as present."""

    def create(numbers: range) -> None:
        client = Client(base_url, token)
        try:
            for n in numbers:
                product = {
                    "name": f"Seed product {n}",
                    "sku": f"SEED-{n:05d}",
                    "price_cents": 100 * n,
                }
                status, _, body = client.call("POST", "/api/v1/products/", product)
                if status not in (201, 409):
                    raise RuntimeError(f"creating product {n}: {status} {body}")
        finally:
            client.close()

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(create, [range(1 + k, count + 1, parallel) for k in range(parallel)]))


def read_users(base_url: str, token: str, ids: range, parallel: int = 4) -> None:
    """GET every user in `ids` once (the service caches each read: this fills its cache)."""

    def read(some: range) -> None:
        client = Client(base_url, token)
        try:
            for user_id in some:
                status, _, body = client.call("GET", f"/api/v1/users/{user_id}")
                if status != 200:
                    raise RuntimeError(f"reading user {user_id}: {status} {body}")
        finally:
            client.close()

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(read, [ids[k::parallel] for k in range(parallel)]))
