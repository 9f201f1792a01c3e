"""Every exception returnpath raises on purpose, in one tree.

    ReturnpathError            base of all of them
    ├── ConfigError            the settings file or a setting is wrong (CLI: exit 2)
    ├── StartError             `serve` cannot start: an address is taken, the data folder in use (CLI: exit 2)
    ├── InputError             a caller gave something we refuse (HTTP 400, SMTP 5xx)
    │   ├── AddressError       a mailbox that is not a valid address
    │   ├── MessageError       a message we will not relay (too big, bare LF, ...)
    │   ├── OptionError        a submission option with a bad value
    │   ├── SenderError        a sender outside the account's sender domains (SMTP 550 5.7.1, HTTP 403)
    │   ├── LoopError          a feedback loop setting with a bad value (names the `field`)
    │   │   └── TargetError    a loop URL returnpath will not post to
    │   └── Conflict           it clashes with something the account has (HTTP 409, names it)
    ├── AuthError              wrong or missing credentials (HTTP 401, SMTP 535)
    │   ├── AccountDisabled    right credentials of a disabled account (HTTP 403, SMTP 535)
    │   ├── CredentialsChanged an SMTP connection's password was rotated since it logged in (SMTP 421)
    │   └── AuthThrottled      too many failed attempts; not checked (SMTP 454 4.7.0)
    ├── NotFound               no such thing for this account (HTTP 404)
    └── StoreError             the store could not do what was asked (outage, corruption)
        └── StoreFull          it will not take more of something (returned mail over its limit)

Adapters translate these at their boundary: the SMTP handlers into replies with enhanced
status codes, the HTTP API into RFC 9457 problem documents, the CLI into a message and an
exit code. Exceptions of libraries (sqlite3, aiosmtplib, ...) are caught in their adapter
and re-raised as one of these, or turned into an outcome value.
"""


class ReturnpathError(Exception):
    """Base of every returnpath exception."""


class ConfigError(ReturnpathError):
    """The configuration file or one of its settings is wrong."""


class StartError(ReturnpathError):
    """`serve` cannot start with settings that are right: the address to listen on is taken
    (or not this host's), another `serve` holds the data folder. The message names what."""


class InputError(ReturnpathError):
    """Input from a client that we refuse; the message says what is wrong."""


class AddressError(InputError):
    """A mailbox that is not a valid address."""


class MessageError(InputError):
    """A message that will not be relayed."""


class OptionError(InputError):
    """A submission option (tags, maxdelivertime, dsn, ...) with a bad value."""


class SenderError(InputError):
    """A sender address outside the domains the account may send from. `field` names what
    carried it ("envelope", "from", ...), for the API's problem document."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class LoopError(InputError):
    """A feedback loop's settings are wrong (unknown event type, format, URL). `field` names
    the one: "url", "events", "format", ..."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class TargetError(LoopError):
    """A loop URL that returnpath will not post to (form, scheme, private address); the message
    says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "url")


class Conflict(InputError):
    """What was asked clashes with something the account already has: a second feedback loop
    with the URL of one it has. `existing` is the id of that thing, `field` the setting that
    clashes."""

    def __init__(self, message: str, field: str, existing: str) -> None:
        super().__init__(message)
        self.field = field
        self.existing = existing


class AuthError(ReturnpathError):
    """Wrong or missing credentials."""


class AccountDisabled(AuthError):
    """The credentials are right, but the account is disabled."""


class CredentialsChanged(AuthError):
    """The SMTP password an open connection logged in with is no longer the account's
    (`accounts rotate`): the connection must log in again, with the new one."""


class AuthThrottled(AuthError):
    """Too many failed logins from this address or for this username lately (or, `at_once`,
    too many being checked now): the attempt was refused without its password being checked."""

    def __init__(self, message: str, *, at_once: bool = False) -> None:
        super().__init__(message)
        self.at_once = at_once


class NotFound(ReturnpathError):
    """The thing asked for does not exist, or belongs to another account."""


class StoreError(ReturnpathError):
    """The store failed: the database is unreachable, locked for too long or corrupt."""


class StoreFull(StoreError):
    """The store refuses to keep more of something: returned mail over `[smtp.inbound]
    max_stored_returns`, or the disk below its reserve. Try again later (SMTP 452 4.3.1)."""
