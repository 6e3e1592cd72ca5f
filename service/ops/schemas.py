from typing import Literal

from pydantic import BaseModel

CheckStatus = Literal["ok", "error", "disabled"]


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadinessChecks(BaseModel):
    database: CheckStatus
    redis: CheckStatus


class ReadinessResponse(BaseModel):
    status: Literal["ok", "error"]
    checks: ReadinessChecks
