"""Async REST microservice on Quart."""

from service.app import create_app

__all__ = ["create_app"]
