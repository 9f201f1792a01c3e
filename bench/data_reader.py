#!/usr/bin/env python3
"""DATA reading speed: ServerSMTP's block reader against aiosmtpd's own line-by-line DATA, in one run.

Issue 8, item 16: the block reader replaced aiosmtpd's DATA handling through its private names
(`_DataState`, `_call_handler_hook`, `_set_post_data_state`, ...), so an upstream fix to that
code (CVE-2024-27305 lived there) would not reach us. It stays only if it is much faster.

Both servers run in this process on loopback, with the same handler (it keeps nothing) and the
same limits; "stock" is ServerSMTP with aiosmtpd's `SMTP.smtp_DATA` put back. One client
connection per server sends N messages of each size, one transaction at a time (MAIL, RCPT,
DATA, the dot-stuffed data with its end marker, the 250), and the time from the first MAIL to
the last 250 is measured. The messages are text with 78-octet lines, a tenth of them starting
with a dot. What the server's CPU does per message is what differs; the client is the same.

    python bench/data_reader.py [--n-small 2000] [--n-large 100]

One run on the 2-CPU development machine (shared with other work, so noisy; as is):

      size      n reader       msg/s     MB/s   ratio
      2 KB   2000 block         1820      3.8   1.58x
      2 KB   2000 stock         1156      2.4   1.00x
      1 MB    100 block          121    127.2   7.31x
      1 MB    100 stock           17     17.4   1.00x

(Again with the deadlines of issue 8 in place, while other work loaded the machine: 856 vs
591 msg/s for 2 KB, 1.45x; 76.1 vs 14.6 MB/s for 1 MB, 5.22x.)

What it decided: the block reader stays. aiosmtpd's reader costs a readuntil, an append and
a join per line, some 50 ms of CPU per megabyte more than ours, so a 25 MB submission would
hold a worker's event loop for over a second. What keeping it costs is confined to
smtp/upstream.py (the StreamReader, the one private name left) and watched by
tests/smtp/test_upstream.py (fails when aiosmtpd's smtp_DATA changes) and
tests/smtp/test_data_reader.py (both readers, same bytes, same outcome).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from aiosmtpd.smtp import SMTP, Envelope, Session

from returnpath.smtp.server import ServerSMTP

LIMIT = 32 * 1024 * 1024


class Discard:
    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        return "250 OK kept nothing"


class Stock(ServerSMTP):
    """ServerSMTP with aiosmtpd's own DATA reader."""

    smtp_DATA = SMTP.smtp_DATA  # type: ignore[assignment]


def message(size: int) -> bytes:
    lines = []
    total = 0
    i = 0
    while total < size:
        line = (b"." if i % 10 == 0 else b"") + (b"%08d " % i) + b"x" * 66 + b"\r\n"
        line = line[:76] + b"\r\n" if len(line) > 78 else line
        lines.append(line)
        total += len(line)
        i += 1
    body = b"Subject: bench\r\n\r\n" + b"".join(lines)
    return (b"\r\n" + body).replace(b"\r\n.", b"\r\n..")[2:] + b".\r\n"


async def reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] != b"-":
            return line


async def run_one(protocol: type[ServerSMTP], stream: bytes, n: int) -> float:
    loop = asyncio.get_running_loop()
    handler = Discard()
    server = await loop.create_server(
        lambda: protocol(
            handler,
            hostname="bench.example",
            data_size_limit=LIMIT,
            enable_SMTPUTF8=True,
            decode_data=False,
            auth_require_tls=False,
            auth_required=False,
            timeout=300,
        ),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    await reply(reader)
    writer.write(b"EHLO bench.example\r\n")
    await reply(reader)
    started = time.perf_counter()
    for _ in range(n):
        writer.write(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        for _ in range(3):
            code = await reply(reader)
        assert code.startswith(b"354"), code
        writer.write(stream)
        await writer.drain()
        code = await reply(reader)
        assert code.startswith(b"250"), code
    elapsed = time.perf_counter() - started
    writer.write(b"QUIT\r\n")
    await reply(reader)
    writer.close()
    server.close()
    await server.wait_closed()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-small", type=int, default=2000, help="messages of 2 KB")
    parser.add_argument("--n-large", type=int, default=100, help="messages of 1 MB")
    args = parser.parse_args()
    print(f"{'size':>6} {'n':>6} {'reader':<8} {'msg/s':>9} {'MB/s':>8} {'ratio':>7}")
    for label, size, n in (("2 KB", 2048, args.n_small), ("1 MB", 1024 * 1024, args.n_large)):
        stream = message(size)
        await run_one(ServerSMTP, stream, max(1, n // 20))  # warm up both
        await run_one(Stock, stream, max(1, n // 20))
        times = {}
        for name, protocol in (("block", ServerSMTP), ("stock", Stock)):
            times[name] = await run_one(protocol, stream, n)
        for name in ("block", "stock"):
            rate = n / times[name]
            mbps = n * len(stream) / times[name] / 1e6
            ratio = times["stock"] / times[name]
            print(f"{label:>6} {n:>6} {name:<8} {rate:>9.0f} {mbps:>8.1f} {ratio:>6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
