"""The one module-level app: the ASGI server's target (`service.asgi:app`)."""

from service.app import create_app

app = create_app()
