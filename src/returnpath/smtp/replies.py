"""The replies of returnpath's SMTP servers, named, each with its RFC 3463 enhanced status code.

Handlers return these (or format them) instead of writing reply text inline, so that a reply
means the same everywhere and tests can assert on names that read as prose. Replies that take
details are format strings with `{}` fields; `one_line` makes client-supplied text safe to put
in a reply.
"""

from __future__ import annotations

import re

# ---- 2xx: done -------------------------------------------------------------------------
S235_AUTH_SUCCESS = "235 2.7.0 Authentication successful"
# After a client's half-close, once what it sent has been answered ({} is the server's name).
S221_CLOSING = "221 2.0.0 {} closing connection"
S250_SENDER_OK = "250 2.1.0 Sender OK"
S250_RECIPIENT_OK = "250 2.1.5 Recipient OK"
# The end of DATA: one recipient gets one line; several get one line each and a last line.
S250_QUEUED_ONE = "250 2.0.0 OK queued as {message_id} delivery {delivery_id}"
S250_QUEUED_LINE = "250-2.0.0 <{recipient}> delivery {delivery_id}"
S250_QUEUED_LAST = "250 2.0.0 OK queued as {message_id}"

S250_RETURN_QUEUED = "250 2.0.0 OK received as {}"

# ---- 4xx: try again later -----------------------------------------------------------------
S421_TOO_MANY_AUTH_FAILURES = "421 4.7.0 Too many failed authentication attempts; closing connection"
# Instead of the greeting, then the connection is closed ({} is the server's name, RFC 5321 3.8).
S421_TOO_MANY_CONNECTIONS = "421 4.7.0 {} Too many connections; try again later"
S421_TOO_MANY_FROM_ADDRESS = "421 4.7.0 {} Too many connections from your address; try again later"
# A command line or the message data did not arrive in time ({} the server's name, then what).
S421_TIMEOUT = "421 4.4.2 {} Timeout waiting for the {}; closing connection"
# Never seen by the client (the connection is closed): what aiosmtpd is handed after a failed
# TLS handshake.
S421_TLS_FAILED = "421 4.7.0 {} TLS handshake failed; closing connection"
# At MAIL FROM on a connection that logged in with an SMTP password since rotated: closed, so
# that the client connects again and logs in with the password it has now ({} the server's name).
S421_CREDENTIALS_CHANGED = (
    "421 4.7.0 {} The SMTP password of this connection's login was changed; log in again; closing connection"
)
S421_TOO_MANY_JUNK = "421 4.7.0 {} Too many commands that send no mail; closing connection"
# To each connection when its worker stops (SIGTERM): at once to one between two messages, to one
# in the middle of a message after that message's reply, or when the grace runs out (RFC 5321
# 3.8 and 4.2.3: 421 is how a server says it is going away; X.3.2, system not accepting
# network messages, RFC 3463). Postfix's postscreen and smtpd say the same on a reload.
S421_SHUTTING_DOWN = "421 4.3.2 {} Service shutting down; try again later; closing connection"
S451_TOO_MANY_MESSAGES = "451 4.7.1 Too many messages from your address; try again later"
S451_STORE_FAILED = "451 4.3.0 Could not store the message; nothing was accepted, try again later"
S451_INTERNAL_ERROR = "451 4.3.0 Internal error; nothing was accepted, try again later"
S452_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
# RFC 3463 X.3.1 "mail system full"; RFC 5321 452 "insufficient system storage", as Postfix says it.
S452_NO_MEMORY = "452 4.3.1 Insufficient system storage: too much mail is being received at once; try again later"
S452_NO_ROOM = "452 4.3.1 Insufficient system storage for returned mail; try again later"
S454_AUTH_UNAVAILABLE = "454 4.7.0 Temporary authentication failure; try again later"
# Too many failures from the client's address or for the username, over all connections: the
# credentials were not even checked (core/throttle.py).
S454_AUTH_THROTTLED = "454 4.7.0 Too many failed authentication attempts; try again later"
# Too many attempts from the address (or for the username) being checked at this moment, none
# of them failed yet: the same refusal, without claiming failures.
S454_AUTH_AT_ONCE = "454 4.7.0 Too many authentication attempts at once; try again later"

# ---- 5xx: refused ------------------------------------------------------------------------
S500_LINE_TOO_LONG = "500 5.5.2 Line too long; RFC 5321 section 4.5.3.1.6 allows 998 octets"
S500_AUTH_LINE_TOO_LONG = "500 5.5.6 Authentication exchange line is too long"  # RFC 4954 section 4
S501_OPTION = "501 5.5.4 {}"  # a bad X-Returnpath-* option header
S501_BAD_BASE64 = "501 5.5.2 Cannot decode base64"
S501_BAD_PLAIN = "501 5.5.2 AUTH PLAIN takes authzid NUL authcid NUL password"
S503_AUTH_NOT_ENABLED = "503 5.5.1 Error: authentication not enabled"  # AUTH on the inbound port
S503_TLS_ACTIVE = "503 5.5.1 TLS already active"
S530_AUTH_REQUIRED = "530 5.7.0 Authentication required"
S535_AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
S535_ACCOUNT_DISABLED = "535 5.7.8 Authentication credentials invalid: the account is disabled"
S538_ENCRYPTION_REQUIRED = "538 5.7.11 Encryption required for requested authentication mechanism"
S550_MESSAGE = "550 5.6.0 {}"  # a message we will not relay: bare LF, empty, ...
S552_SIZE_EXCEEDED = "552 5.3.4 Message size exceeds fixed maximum message size"
S552_MESSAGE_TOO_BIG = "552 5.3.4 Message too big"
S550_NOT_AUTHORIZED = "550 5.7.1 {}"  # a sender outside the account's domains; a disabled account
S550_NO_SUCH_USER = "550 5.1.1 No such recipient here"
S553_BAD_SENDER = "553 5.1.7 {}"  # a MAIL FROM the inbound server cannot keep (RFC 3463 X.1.7)
S553_ADDRESS = "553 5.1.3 {}"  # a mailbox that is not a valid address; says what is wrong
S553_NON_ASCII_ADDRESS = "553 5.6.7 Non-ASCII address {} needs the SMTPUTF8 parameter on MAIL FROM"

# aiosmtpd writes some replies itself, without enhanced status codes; both servers rewrite
# these as they are sent (the rest get DEFAULT_ENHANCED), so every refusal carries one.
REWRITES: dict[str, str] = {
    "552 Error: message size exceeds fixed maximum message size": S552_SIZE_EXCEEDED,
    "552 Error: Too much mail data": S552_MESSAGE_TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": S500_LINE_TOO_LONG,
    "503 Error: need MAIL command": "503 5.5.1 Error: need MAIL command",
    "503 Error: need RCPT command": "503 5.5.1 Error: need RCPT command",
    "503 Error: nested MAIL command": "503 5.5.1 Error: nested MAIL command",
    "503 Already authenticated": "503 5.5.1 Already authenticated",
    "555 MAIL FROM parameters not recognized or not implemented": "555 5.5.4 MAIL FROM parameters not recognized or not implemented",
    "555 RCPT TO parameters not recognized or not implemented": "555 5.5.4 RCPT TO parameters not recognized or not implemented",
}


# The enhanced status code of a refusal that aiosmtpd writes without one (its syntax errors,
# unknown commands, commands out of order; REWRITES has none of them), by reply code: X.5.x is
# the protocol's own (RFC 3463 section 3.6), and Postfix answers the same refusals with these.
DEFAULT_ENHANCED: dict[str, str] = {
    "454": "4.7.0",  # TLS not available (RFC 3207)
    "500": "5.5.2",  # syntax error: a line not understood or too long, a command unknown
    "501": "5.5.4",  # invalid command arguments
    "502": "5.5.1",  # command not implemented
    "503": "5.5.1",  # bad sequence of commands
    "530": "5.7.0",  # STARTTLS first
    "554": "5.7.0",  # refused for lack of security
}
_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?: |$)")


def with_enhanced_code(reply: str) -> str:
    """`reply` as the client gets it: one of REWRITES rewritten, a refusal without an enhanced
    status code given the default of its reply code, anything else as it is."""
    rewritten = REWRITES.get(reply)
    if rewritten is not None:
        return rewritten
    default = DEFAULT_ENHANCED.get(reply[:3])
    if default is None or reply[3:4] != " " or "\n" in reply or _ENHANCED.match(reply, 4):
        return reply
    # (aiosmtpd echoes an unknown command as it came: no control character goes back with it)
    return f"{reply[:4]}{default} {one_line(reply[4:])}"


def one_line(text: str, limit: int = 400) -> str:
    """Text fit for the end of a reply line: no control characters (a CR or LF from a client
    would start a reply of its own), and short enough for RFC 5321's 512-octet reply lines."""
    # Surrogates (from undecodable client bytes) would make the reply unencodable.
    text = text.encode("utf-8", "replace").decode("utf-8")
    cleaned = "".join(c if c >= " " and c != "\x7f" else " " for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
