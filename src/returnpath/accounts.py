"""Creating accounts: generate credentials, store only their hashes, show them once."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from .core import credentials, ids
from .core.model import Account
from .core.ports import Store
from .errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class NewAccount:
    """An account with its credentials in clear, as printed once by `init` and `accounts add`."""

    account: Account
    api_token: str
    smtp_password: str

    def as_dict(self) -> dict[str, str]:
        return {
            "account": self.account.id,
            "name": self.account.name,
            "api_token": self.api_token,
            "smtp_username": self.account.smtp_username,
            "smtp_password": self.smtp_password,
        }


async def create_account(store: Store, name: str, now: float) -> NewAccount:
    if not _NAME.match(name):
        raise InputError(f"account name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    if any(a.name == name for a in await store.accounts()):
        raise InputError(f"an account named {name!r} exists already")
    account = Account(id=ids.new_id(now), name=name, smtp_username=name)
    token, password = credentials.new_token(), credentials.new_password()
    password_hash = await asyncio.to_thread(credentials.hash_password, password)
    await store.create_account(account, credentials.hash_token(token), password_hash, now)
    return NewAccount(account, token, password)
