"""The HTTP API: translates HTTP to the service layer and errors to the one envelope.

app = create_app(Settings())          # or: uvicorn --factory idmint.api:create_app_from_env
"""

from idmint.api.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
