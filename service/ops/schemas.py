from typing import Literal

from pydantic import BaseModel
from typing_extensions import TypeAliasType

# A named alias: the document then has one `CheckStatus` schema (one enum in a generated
# client) rather than a copy per field.
CheckStatus = TypeAliasType("CheckStatus", Literal["ok", "error", "disabled"])


class HealthResponse(BaseModel):
    """The process is up (liveness; no backend is touched)."""

    status: Literal["ok"]


class ReadinessChecks(BaseModel):
    """Each backend's state."""

    database: CheckStatus
    redis: CheckStatus


class ReadinessResponse(BaseModel):
    """Whether every configured backend answers, and each one's state."""

    status: Literal["ok", "error"]
    checks: ReadinessChecks
