"""A DNS server on loopback for the test session, serving a zone that a test sets up.

DKIM verifiers, `domains check` and `doctor` look things up in DNS; the tests must not depend
on the public DNS (there is none here), so they run this server and point the code under test
at it: dnspython through `DnsServer.resolver()`, Perl's Mail::DKIM and OpenDKIM (through
libunbound) by address and port.

The zone is a plain dict from names to what the server answers for them, changed freely by a
test while the server runs (the server reads it at every query):

    dns.zone["rp202612._domainkey.example.com"] = [txt("v=DKIM1; k=rsa; ", "p=MIIB...")]
    dns.zone["example.com"] = [mx(10, "mx.example.com"), a("192.0.2.1"), aaaa("2001:db8::1")]
    dns.zone[reverse("192.0.2.1")] = [ptr("mx.example.com")]
    dns.zone["broken.example.com"] = SERVFAIL
    dns.zone["slow.example.com"] = TIMEOUT       # no answer at all: the client times out

Names are matched without regard to case or a final dot. A name not in the zone gets NXDOMAIN,
unless a longer name in the zone ends with it (an "empty non-terminal" like
``_domainkey.example.com``), which gets an empty answer, as a name that exists without records
of the type asked for does.

Answers are made and parsed with dnspython (`dns.message`), over UDP and TCP on the same port.
A UDP answer larger than the client allows (512 octets, or its EDNS buffer size) is sent
truncated (TC set, no records) so that the client asks again over TCP, as real servers do;
`DnsServer.udp_limit` lowers the limit to force that path. `DnsServer.queries` records every
query (name, type, transport), so a test can check that a verifier asked this server, not some
other resolver.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Final

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.rrset
import pytest

TTL = 300


class _Failure:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SERVFAIL: Final = _Failure("SERVFAIL")  # the server answers SERVFAIL for the name, any type
TIMEOUT: Final = _Failure("TIMEOUT")  # the server never answers queries for the name


@dataclass(frozen=True)
class Record:
    """One resource record: its type and its data in zone file syntax."""

    rtype: str
    text: str

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(self.rtype), self.text)


def txt(*strings: str) -> Record:
    """A TXT record of one or more strings (each at most 255 octets, as DNS requires)."""
    quoted = []
    for s in strings:
        if len(s.encode()) > 255:
            raise ValueError(f"a TXT string of {len(s.encode())} octets; split it (at most 255 each)")
        quoted.append('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return Record("TXT", " ".join(quoted))


def mx(preference: int, exchange: str) -> Record:
    return Record("MX", f"{preference} {exchange.rstrip('.')}.")


def a(address: str) -> Record:
    return Record("A", address)


def aaaa(address: str) -> Record:
    return Record("AAAA", address)


def ptr(target: str) -> Record:
    return Record("PTR", target.rstrip(".") + ".")


def cname(target: str) -> Record:
    return Record("CNAME", target.rstrip(".") + ".")


def reverse(address: str) -> str:
    """The name of the PTR record of an IPv4 or IPv6 address."""
    return dns.reversename.from_address(address).to_text(omit_final_dot=True)


Entry = list[Record] | _Failure


@dataclass
class DnsServer:
    """The server: `zone` to change, `port` to point clients at (on 127.0.0.1, UDP and TCP)."""

    zone: MutableMapping[str, Entry] = field(default_factory=dict)
    udp_limit: int | None = None  # answers over UDP larger than this are truncated (None: the client's limit)
    queries: list[tuple[str, str, str]] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._servers: list[socketserver.BaseServer] = []

    # ---- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free port, UDP and TCP alike, each served by a thread."""
        for _ in range(20):  # the TCP port of the UDP port's number may be taken: try another
            udp = _UdpServer((self.host, 0), _UdpHandler, self)
            try:
                tcp = _TcpServer((self.host, udp.server_address[1]), _TcpHandler, self)
            except OSError:
                udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no port free for UDP and TCP alike")
        self.port = udp.server_address[1]
        self._servers = [udp, tcp]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def resolver(self, timeout: float = 2.0) -> dns.resolver.Resolver:
        """A dnspython resolver that asks this server only."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.host]
        resolver.port = self.port
        resolver.timeout = resolver.lifetime = timeout
        return resolver

    def txt_lookup(self, name: str) -> list[str]:
        """The TXT values (strings joined) at `name`, asked of this server over the network."""
        try:
            answer = self.resolver().resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return [b"".join(r.strings).decode("ascii", "replace") for r in answer]

    # ---- answering ------------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to the query in `wire`, or None to send none (TIMEOUT, or not a query)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype), transport))
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        entry = self.zone.get(name, self.zone.get(name + "."))
        if entry is TIMEOUT:
            return None
        if entry is SERVFAIL:
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif isinstance(entry, list):
            self._fill(reply, question.name, question.rdtype, entry)
        elif not any(other.lower().rstrip(".").endswith("." + name) for other in self.zone):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        wire = reply.to_wire()
        limit = self.udp_limit or (max(query.payload, 512) if query.edns >= 0 else 512)
        if transport == "udp" and len(wire) > limit:
            # (Measured here: dnspython's own max_size never goes below 512.)
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()
        return wire

    def _fill(self, reply: dns.message.Message, qname: dns.name.Name, rdtype: int, records: list[Record]) -> None:
        aliases = [r for r in records if r.rtype.upper() == "CNAME"]
        if aliases and rdtype != dns.rdatatype.CNAME:
            # Answer the alias, and the target's records if they are in the zone (as an
            # authoritative server of both would).
            reply.answer.append(dns.rrset.from_rdata(qname, TTL, aliases[0].rdata()))
            target = aliases[0].text.rstrip(".").lower()
            more = self.zone.get(target)
            if isinstance(more, list):
                self._fill(reply, dns.name.from_text(target), rdtype, more)
            return
        wanted = [r.rdata() for r in records if dns.rdatatype.from_text(r.rtype) == rdtype]
        if wanted:
            reply.answer.append(dns.rrset.from_rdata_list(qname, TTL, wanted))

    def wait_stopping(self, timeout: float) -> None:
        self._stopping.wait(timeout)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, dns_server: DnsServer) -> None:
        self.dns = dns_server
        super().__init__(address, handler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, dns_server: DnsServer) -> None:
        self.dns = dns_server
        super().__init__(address, handler)


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        assert isinstance(self.server, _UdpServer)
        reply = self.server.dns.answer(data, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, _TcpServer)
        conn: socket.socket = self.request
        conn.settimeout(10)
        try:
            while True:  # RFC 7766 6.2.1: a client may send several queries on one connection
                head = _read_exactly(conn, 2)
                if head is None:
                    return
                wire = _read_exactly(conn, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                reply = self.server.dns.answer(wire, "tcp")
                if reply is None:
                    self.server.dns.wait_stopping(30)  # TIMEOUT: hold the connection, say nothing
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A loopback DNS server with an empty zone, for one test (see the module's docstring)."""
    server = DnsServer()
    server.start()
    yield server
    server.stop()
