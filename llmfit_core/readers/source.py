"""Byte sources for header readers: a local file or an HTTP URL read with small Range requests.

Both count the bytes they transfer (`bytes_read`) and refuse to read past `max_bytes`
(HeaderTooLargeError), so a hostile header cannot make us read or allocate without bound.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from llmfit_core.errors import (
    AuthRequiredError,
    HeaderTooLargeError,
    ModelReadError,
    NotFoundError,
    OfflineError,
    RemoteError,
)
from llmfit_core.net import http_timeout

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
FIRST_CHUNK = 64 * 1024
MAX_CHUNK = 1024 * 1024


class ByteSource:
    """Random-access reads of a file's leading bytes with a transfer cap. Subclasses fill `_fetch`."""

    name: str = "?"
    size: int | None = None

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self.bytes_read = 0

    def read_at(self, offset: int, n: int) -> bytes:
        """Exactly `n` bytes at `offset`; ModelReadError if the file ends first."""
        if n < 0 or offset < 0:
            raise ModelReadError(f"{self.name}: negative read")
        if n == 0:
            return b""
        if self.size is not None and offset + n > self.size:
            raise ModelReadError(f"{self.name}: truncated (needs bytes up to {offset + n}, file has {self.size})")
        data = self._read(offset, n)
        if len(data) < n:
            raise ModelReadError(f"{self.name}: truncated (needs bytes up to {offset + n}, got {offset + len(data)})")
        return data

    def charge(self, n: int) -> None:
        """Count `n` bytes read against `max_bytes` (HeaderTooLargeError past it)."""
        if self.bytes_read + n > self.max_bytes:
            raise HeaderTooLargeError(
                f"{self.name}: header needs more than {self.max_bytes} bytes; refusing to read further "
                "(corrupt or hostile file?)"
            )
        self.bytes_read += n

    #: True when small random reads are cheap and precise (HTTP with Range support)
    sparse = False

    def readahead(self, n: int) -> None:
        """Hint: about `n` more bytes will be read sequentially (remote sources size their next request)."""

    def probe(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes at `offset` without disturbing sequential reads (counted like any read)."""
        if self.size is not None:
            n = max(0, min(n, self.size - offset))
        return self.read_at(offset, n)

    def scan(self, offset: int, n: int) -> bytes | None:
        """Up to `n` bytes at `offset` for a parser to walk over data it does not keep (the text of a
        string array), not counted: the parser charges() what it parses. None where a read is not cheap
        and local (HTTP), so the parser reads item by item."""
        return None

    def _read(self, offset: int, n: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the file or connection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalSource(ByteSource):
    """A local file. Reads go straight to the file (no whole-file mmap)."""

    def __init__(self, path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
        super().__init__(max_bytes)
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path) or self.path
        try:
            self._f = open(self.path, "rb")
            self.size = os.fstat(self._f.fileno()).st_size
        except FileNotFoundError:
            raise ModelReadError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise ModelReadError(f"{self.path}: is a directory, not a model file") from None
        except OSError as exc:
            raise ModelReadError(f"{self.path}: cannot open ({exc.strerror or exc})") from None

    def _read(self, offset: int, n: int) -> bytes:
        self.charge(n)
        self._f.seek(offset)
        return self._f.read(n)

    def scan(self, offset: int, n: int) -> bytes:
        self._f.seek(offset)
        return self._f.read(n)

    def close(self) -> None:
        self._f.close()


class MemorySource(ByteSource):
    """Bytes already in memory (tests, data received elsewhere)."""

    def __init__(self, data: bytes, name: str = "<memory>", max_bytes: int = DEFAULT_MAX_BYTES):
        super().__init__(max_bytes)
        self._data = bytes(data)
        self.size = len(self._data)
        self.name = name

    def _read(self, offset: int, n: int) -> bytes:
        self.charge(n)
        return self._data[offset:offset + n]

    def scan(self, offset: int, n: int) -> bytes:
        return self._data[offset:offset + n]


def _is_hf_url(url: str) -> bool:
    try:
        from huggingface_hub import constants  # lazy: start-up: local files never load huggingface_hub

        hub = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    except Exception:  # pragma: no cover - huggingface_hub is a dependency
        hub = "huggingface.co"
    host = urlparse(url).hostname or ""
    return host == hub or host.endswith(".huggingface.co") or host.endswith(".hf.co") or host == "hf.co"


class HTTPRangeSource(ByteSource):
    """An HTTP(S) file read with `Range: bytes=a-b` requests in growing chunks (64 KiB, x1.5, at most 1 MiB).

    Uses huggingface_hub's shared httpx client (redirects, offline mode, proxies). Hub URLs get the
    user's token headers (HF_TOKEN / `hf auth login`). A server that ignores Range (200 with the whole
    body) is streamed only up to what is needed and at most `max_bytes`, then closed.
    """

    def __init__(self, url: str, headers: dict | None = None, timeout: float | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, first_chunk: int = FIRST_CHUNK):
        super().__init__(max_bytes)
        if urlparse(url).scheme not in ("http", "https"):
            raise ModelReadError(f"not an http(s) URL: {url}")
        self.url = url
        self.name = url.rsplit("/", 1)[-1].split("?")[0] or url
        if timeout is None:  # the one LLMFIT_HTTP_TIMEOUT knob, also for header reads of the Ollama registry

            timeout = http_timeout()
        self.timeout = timeout
        self.headers = dict(headers or {})
        if headers is None and _is_hf_url(url):
            try:
                from huggingface_hub.utils import build_hf_headers  # lazy: start-up: HTTP reads only (huggingface_hub)

                self.headers = build_hf_headers()
            except Exception:
                self.headers = {}
        self.requests = 0
        self._chunk = max(1024, int(first_chunk))
        self._buf = bytearray()
        self._buf_start = 0
        self._stream = None  # (response, iterator) when the server ignores Range
        self._stream_done = False
        self._capped = False

    def readahead(self, n: int) -> None:
        self._chunk = max(4096, min(int(n), MAX_CHUNK))

    @property
    def sparse(self) -> bool:  # Range honoured so far (we know after the first response)
        return self._stream is None and self.requests > 0 and self.size is not None

    def probe(self, offset: int, n: int) -> bytes:
        if self.size is not None:
            n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        lo = offset - self._buf_start
        if 0 <= lo and offset + n <= self._buf_start + len(self._buf):
            return bytes(self._buf[lo:lo + n])
        if self._stream is not None:
            return self.read_at(offset, n)
        self.charge(0)
        if n > self.max_bytes - self.bytes_read:
            self.charge(n)
        resp = self._open(offset, offset + n)
        try:
            if resp.status_code == 200:
                raise ModelReadError(f"{self.name}: server stopped honouring Range requests")
            self._check_range(resp, offset)
            return self._pull(resp, n)[:n]
        finally:
            resp.close()

    # -- transport ---------------------------------------------------------------------------
    def _client(self):
        from huggingface_hub import get_session  # lazy: start-up: HTTP reads only (huggingface_hub)

        return get_session()

    def _errors(self):
        import httpx2  # lazy: start-up: HTTP reads only (huggingface_hub's HTTP client)

        return httpx2

    def _open(self, start: int, end: int):
        hx = self._errors()
        headers = dict(self.headers)
        headers["Range"] = f"bytes={start}-{end - 1}"
        headers.setdefault("Accept-Encoding", "identity")
        self.requests += 1
        try:
            req = self._client().build_request("GET", self.url, headers=headers, timeout=self.timeout)
            resp = self._client().send(req, stream=True)
        except hx.TimeoutException:
            raise OfflineError(f"timed out reading {self._safe_url()}", url=self._safe_url()) from None
        except hx.HTTPError as exc:
            raise OfflineError(f"cannot reach {self._host()}: {type(exc).__name__}", url=self._safe_url()) from None
        except Exception as exc:
            if type(exc).__name__ == "OfflineModeIsEnabled":
                raise OfflineError(f"offline mode is on (HF_HUB_OFFLINE); cannot read {self._safe_url()}") from None
            raise
        status = resp.status_code
        if status in (200, 206):
            return resp
        resp.close()
        url = self._safe_url()
        if status in (401, 403):
            raise AuthRequiredError(
                f"{url}: access denied ({status}); the repository may be gated or private: "
                "accept its terms on the Hub and log in with `hf auth login` or set HF_TOKEN",
                status=status, url=url,
            )
        if status == 404:
            raise NotFoundError(f"{url}: not found (404)", status=status, url=url)
        if status == 416:
            raise ModelReadError(f"{url}: truncated (server says the range {start}-{end - 1} is past the end)")
        raise RemoteError(f"{url}: server answered HTTP {status}", status=status, url=url)

    def _host(self) -> str:
        return urlparse(self.url).hostname or self.url

    def _safe_url(self) -> str:
        p = urlparse(self.url)
        return f"{p.scheme}://{p.hostname}{(':' + str(p.port)) if p.port else ''}{p.path}"

    def _pull(self, resp, want: int) -> bytes:
        """Read up to `want` bytes from a streamed response, charging the cap as bytes arrive."""
        hx = self._errors()
        out = bytearray()
        try:
            it = resp.iter_raw()
            if self._stream is not None:
                it = self._stream[1]
            for piece in it:
                allowed = self.max_bytes - self.bytes_read
                if len(piece) > allowed:  # stop exactly at the cap
                    out += piece[:allowed]
                    self.bytes_read += allowed
                    self._capped = True
                    break
                self.bytes_read += len(piece)
                out += piece
                if len(out) >= want:
                    break
            else:
                self._stream_done = True
        except hx.TimeoutException:
            raise OfflineError(f"timed out reading {self._safe_url()}", url=self._safe_url()) from None
        except hx.HTTPError as exc:
            raise OfflineError(f"connection to {self._host()} failed: {type(exc).__name__}",
                               url=self._safe_url()) from None
        return bytes(out)

    # -- reads -------------------------------------------------------------------------------
    def _read(self, offset: int, n: int) -> bytes:
        end = offset + n
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= offset and end <= buf_end:
            return bytes(self._buf[offset - self._buf_start:end - self._buf_start])
        if self._stream is not None:
            return self._read_stream(offset, n)
        if offset < self._buf_start or offset > buf_end:
            # a jump (seek over a fixed-size array): start a new window
            self._buf = bytearray()
            self._buf_start = offset
            buf_end = offset
        if end - buf_end > self.max_bytes - self.bytes_read:
            self.charge(end - buf_end)  # raises HeaderTooLargeError
        fetch_end = max(end, buf_end + self._chunk)
        if self.size is not None:
            fetch_end = min(fetch_end, self.size)
        if fetch_end - buf_end > self.max_bytes - self.bytes_read:
            fetch_end = max(end, buf_end + (self.max_bytes - self.bytes_read))
        resp = self._open(buf_end, fetch_end)
        try:
            if resp.status_code == 200:  # Range ignored: the body starts at byte 0
                self._stream = (resp, resp.iter_raw())
                self._stream_done = False
                self._buf = bytearray()
                self._buf_start = 0
                self._learn_size(resp, whole=True)
                return self._read_stream(offset, n)
            self._learn_size(resp)
            self._check_range(resp, buf_end)
            data = self._pull(resp, fetch_end - buf_end)
        finally:
            if self._stream is None:
                resp.close()
        self._buf += data
        self._chunk = min(self._chunk * 3 // 2, MAX_CHUNK)
        # keep the window bounded: drop what lies well before the current read
        if offset - self._buf_start > MAX_CHUNK:
            drop = offset - self._buf_start
            del self._buf[:drop]
            self._buf_start += drop
        lo = offset - self._buf_start
        return bytes(self._buf[lo:lo + n])

    def _read_stream(self, offset: int, n: int) -> bytes:
        end = offset + n
        resp = self._stream[0]
        while self._buf_start + len(self._buf) < end and not self._stream_done:
            if self._capped or self.bytes_read >= self.max_bytes:
                self.charge(end - (self._buf_start + len(self._buf)))  # raises HeaderTooLargeError
            need = end - (self._buf_start + len(self._buf))
            want = max(need, min(64 * 1024, self.max_bytes - self.bytes_read))
            self._buf += self._pull(resp, want)
            # forget bytes before the current read so memory stays small while skipping
            if offset - self._buf_start > MAX_CHUNK:
                drop = offset - self._buf_start
                del self._buf[:drop]
                self._buf_start += drop
        if offset < self._buf_start:
            raise ModelReadError(f"{self.name}: cannot seek backwards on a server without Range support")
        lo = offset - self._buf_start
        return bytes(self._buf[lo:lo + n])

    def _check_range(self, resp, start: int) -> None:
        cr = resp.headers.get("content-range", "")
        if cr.startswith("bytes ") and "-" in cr:
            first = cr[6:].split("-", 1)[0].strip()
            if first.isdigit() and int(first) != start:
                resp.close()
                raise RemoteError(f"{self._safe_url()}: server sent bytes from {first}, asked for {start}",
                                  url=self._safe_url())

    def _learn_size(self, resp, whole: bool = False) -> None:
        if self.size is not None:
            return
        cr = resp.headers.get("content-range", "")
        if "/" in cr:
            total = cr.rsplit("/", 1)[1].strip()
            if total.isdigit():
                self.size = int(total)
                return
        if whole:
            cl = resp.headers.get("content-length", "")
            if cl.isdigit():
                self.size = int(cl)

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream[0].close()
            finally:
                self._stream = None
        self._buf = bytearray()


def open_source(path_or_url, max_bytes: int = DEFAULT_MAX_BYTES) -> ByteSource:
    """A ByteSource for a path, an http(s) URL, or an existing ByteSource (returned as is)."""
    if isinstance(path_or_url, ByteSource):
        return path_or_url
    s = os.fspath(path_or_url)
    if s.startswith(("http://", "https://")):
        return HTTPRangeSource(s, max_bytes=max_bytes)
    return LocalSource(s, max_bytes=max_bytes)
