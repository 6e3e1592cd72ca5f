"""Peer: FastAPI + SQLAlchemy asyncio (asyncpg) + PyJWT, the same API subset as the service.

Runs under uvicorn (2 workers, uvloop + httptools) from the bench venv. Admin rights come
from an `adm` claim in the token, so an admin route costs no extra query.
Env: PEER_DATABASE_URL (postgresql+asyncpg://…), PEER_JWT_SECRET, PEER_POOL_SIZE.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET = os.environ.get("PEER_JWT_SECRET", "peer-secret-" + "p" * 40)
engine = create_async_engine(
    os.environ["PEER_DATABASE_URL"],
    pool_size=int(os.environ.get("PEER_POOL_SIZE", "20")),
    max_overflow=0,
)
Session = async_sessionmaker(engine, expire_on_commit=False)
hasher = PasswordHasher()
app = FastAPI()


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str]
    is_admin: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    price_cents: Mapped[int]
    description: Mapped[str | None]
    owner_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    is_admin: bool
    created_at: datetime
    updated_at: datetime


class ProductIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    sku: str = Field(pattern=r"^[A-Z0-9-]{3,64}$")
    price_cents: int = Field(ge=0, le=1_000_000_000)
    description: str | None = Field(default=None, max_length=2000)


class ProductOut(ProductIn):
    id: int
    owner_id: int
    created_at: datetime
    updated_at: datetime


class Login(BaseModel):
    email: str
    password: str


async def session() -> Any:
    async with Session() as db:
        yield db


def claims(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "UNAUTHORIZED")
    try:
        return jwt.decode(authorization[7:], SECRET, algorithms=["HS256"])  # type: ignore[no-any-return]
    except jwt.PyJWTError:
        raise HTTPException(401, "UNAUTHORIZED") from None


def admin(token: Annotated[dict[str, Any], Depends(claims)]) -> dict[str, Any]:
    if not token.get("adm"):
        raise HTTPException(403, "FORBIDDEN")
    return token


Db = Annotated[AsyncSession, Depends(session)]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/auth/login")
async def login(body: Login, db: Db) -> dict[str, Any]:
    user = await db.scalar(select(User).where(User.email == body.email.lower()))
    if user is None:
        raise HTTPException(401, "INVALID_CREDENTIALS")
    try:
        await asyncio.to_thread(hasher.verify, user.password_hash, body.password)
    except VerificationError:
        raise HTTPException(401, "INVALID_CREDENTIALS") from None
    now = int(time.time())
    token = {"sub": str(user.id), "adm": user.is_admin, "iat": now, "exp": now + 3600}
    access = jwt.encode({**token, "jti": uuid.uuid4().hex, "type": "access"}, SECRET)
    refresh = jwt.encode({**token, "jti": uuid.uuid4().hex, "type": "refresh"}, SECRET)
    return {"access_token": access, "refresh_token": refresh, "token_type": "bearer"}


@app.get("/api/v1/users/", response_model=list[UserOut])
async def list_users(
    response: Response,
    db: Db,
    _: Annotated[dict[str, Any], Depends(admin)],
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    total = await db.scalar(select(func.count()).select_from(User))
    rows = await db.scalars(
        select(User).order_by(User.id).offset((page - 1) * per_page).limit(per_page)
    )
    response.headers["X-Total-Count"] = str(total)
    return rows.all()


@app.get("/api/v1/users/{user_id}", response_model=UserOut)
async def get_user(user_id: int, db: Db, token: Annotated[dict[str, Any], Depends(claims)]) -> Any:
    if not token.get("adm") and token.get("sub") != str(user_id):
        raise HTTPException(403, "FORBIDDEN")
    user = await db.get(User, user_id)
    if user is None:
        raise HTTPException(404, "NOT_FOUND")
    return user


@app.post("/api/v1/products/", status_code=201, response_model=ProductOut)
async def create_product(
    body: ProductIn, response: Response, db: Db, token: Annotated[dict[str, Any], Depends(admin)]
) -> Any:
    product = Product(**body.model_dump(), owner_id=int(token["sub"]))
    db.add(product)
    try:
        await db.commit()
    except IntegrityError:
        raise HTTPException(409, "DUPLICATE_ENTRY") from None
    response.headers["Location"] = f"/api/v1/products/{product.id}"
    return product
