"""How a memoized call names its cache entry: its namespace and its key inside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cashews.key import get_cache_key


@dataclass(frozen=True)
class Memo:
    """A memoized function and the cashews key templates of its namespace and key."""

    function: Callable[..., Any]
    namespace: str
    key: str

    def namespace_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The namespace of a call: what `delete_memoized` drops."""
        return get_cache_key(self.function, self.namespace, args, kwargs)

    def keys(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
        """A call's namespace, and its key inside it."""
        suffix = get_cache_key(self.function, self.key, args, kwargs) if self.key else ""
        return self.namespace_of(args, kwargs), f"{self.function.__qualname__}{suffix}"
