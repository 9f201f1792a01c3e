"""Managing accounts: create them, rotate their credentials, disable, bind to sender domains,
remove. Credentials are generated here, stored only as hashes, and shown once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from ..core import credentials, ids, senders
from ..core.model import Account
from ..core.ports import Store
from ..errors import InputError, NotFound

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


def account_json(account: Account) -> dict[str, object]:
    """An account as `accounts list` shows it: never a credential."""
    return {
        "account": account.id,
        "name": account.name,
        "smtp_username": account.smtp_username,
        "disabled": account.disabled,
        "sender_domains": list(account.sender_domains),
    }


async def create_account(store: Store, name: str, now: float, sender_domains: Sequence[str] = ()) -> NewAccount:
    if not _NAME.match(name):
        raise InputError(f"account name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    domains = senders.parse_domains(sender_domains)
    if any(a.name == name for a in await store.accounts()):
        raise InputError(f"an account named {name!r} exists already")
    account = Account(id=ids.new_id(now), name=name, smtp_username=name)
    token, password = credentials.new_token(), credentials.new_password()
    password_hash = await asyncio.to_thread(credentials.hash_password, password)
    await store.create_account(account, credentials.hash_token(token), password_hash, now)
    if domains:
        account = await _updated(store.update_account(account.id, sender_domains=domains), name)
    return NewAccount(account, token, password)


async def find_account(store: Store, name: str) -> Account:
    """The account by name or id; NotFound when there is none."""
    for account in await store.accounts():
        if account.name == name or account.id == name:
            return account
    raise NotFound(f"no account named {name!r}")


async def rotate_credentials(store: Store, name: str, *, token: bool = True, password: bool = True) -> dict[str, str]:
    """New credentials for the account, replacing the old ones at once; the new ones, in the
    shape `accounts add` prints them (only those that were rotated)."""
    account = await find_account(store, name)
    new_token = credentials.new_token() if token else None
    new_password = credentials.new_password() if password else None
    password_hash = None
    if new_password is not None:
        password_hash = await asyncio.to_thread(credentials.hash_password, new_password)
    await _updated(
        store.update_account(
            account.id,
            api_token_hash=None if new_token is None else credentials.hash_token(new_token),
            smtp_password_hash=password_hash,
        ),
        name,
    )
    shown = {"account": account.id, "name": account.name}
    if new_token is not None:
        shown["api_token"] = new_token
    if new_password is not None:
        shown.update(smtp_username=account.smtp_username, smtp_password=new_password)
    return shown


async def set_disabled(store: Store, name: str, disabled: bool) -> Account:
    account = await find_account(store, name)
    return await _updated(store.update_account(account.id, disabled=disabled), name)


async def set_sender_domains(store: Store, name: str, sender_domains: Sequence[str]) -> Account:
    """Bind the account to these sender domains (none: any sender)."""
    domains = senders.parse_domains(sender_domains)
    account = await find_account(store, name)
    return await _updated(store.update_account(account.id, sender_domains=domains), name)


async def remove_account(store: Store, name: str, *, force: bool = False) -> dict[str, object]:
    account = await find_account(store, name)
    deliveries = await store.remove_account(account.id, force=force)
    if deliveries is None:
        raise NotFound(f"no account named {name!r}")
    return {"removed": account.id, "name": account.name, "deliveries": deliveries}


async def _updated(change: Awaitable[Account | None], name: str) -> Account:
    account = await change
    if account is None:  # removed meanwhile
        raise NotFound(f"no account named {name!r}")
    return account
