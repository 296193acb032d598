"""A minimal HTTP/1.1 keep-alive client for the benchmarks' own requests.

httpx costs about 1.3 ms of CPU per request on this machine (as much as the service spends
answering a cached, authenticated call: 0.4-0.6 ms measured with this client against
1.7-1.8 ms with httpx, same server, same run), and the client shares the two cores with
the servers it measures. This writes a request and reads a Content-Length response,
nothing more: no redirects, no chunked bodies (the CSV export keeps httpx).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Connection:
    """One keep-alive connection (see the module docstring)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        """`head`: the request line and headers, each line ending in CRLF."""
        return await self._send(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def get(
        self, path: str, params: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """GET `path` with `params` (a dict or a list of pairs, lists repeated)."""
        query = urllib.parse.urlencode(params or {}, doseq=True)
        target = f"{path}?{query}" if query else path
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        status, content = await self._send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return Answer(status, content)

    async def _send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None
