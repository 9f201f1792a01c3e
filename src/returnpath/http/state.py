"""What every handler reaches through its request: the relay and settings the app was built with.

`app.create_app` puts them on `app.state`; these accessors give them back typed.
"""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from ..config import Settings
from ..core.limits import MessageMemory
from ..usecases.relay import Relay


def relay_of(request: Request) -> Relay:
    return cast(Relay, request.app.state.relay)


def settings_of(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def memory_of(request: Request) -> MessageMemory:
    """The process's message_memory (core/limits.py), which message bodies take from."""
    return cast(MessageMemory, request.app.state.memory)
