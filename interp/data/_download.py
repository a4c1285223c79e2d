"""Download helper shared by the dataset modules: retries, progress, size/checksum checks, atomic writes.

A file is streamed to a temporary file in the destination directory and moved into place with
``os.replace`` only after every check passed, so an interrupted or failed download never leaves a
partial file behind, and an existing file is always complete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import requests
from tqdm.auto import tqdm

from interp.data._io import DownloadError, PathLike

T = TypeVar("T")

try:
    _VERSION = metadata.version("interp")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    _VERSION = "dev"
USER_AGENT = (
    f"interp/{_VERSION} (research toolkit reproducing Fierro, Li & Sogaard 2024; "
    f"python-requests/{requests.__version__})"
)
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 16
MAX_RETRY_AFTER_S = 60.0


class _Transient(Exception):
    """A failure worth retrying (server error, rate limit, connection problem, truncated body)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def user_agent() -> str:
    """The User-Agent sent with every request; ``$INTERP_CONTACT`` (an e-mail or URL) is appended.

    >>> user_agent().startswith("interp/")
    True
    """
    contact = os.environ.get("INTERP_CONTACT")
    return f"{USER_AGENT} contact: {contact}" if contact else USER_AGENT


def with_retries(action: Callable[[], T], *, url: str, retries: int, backoff: float, advice: str) -> T:
    """Run ``action`` up to ``1 + retries`` times, sleeping ``backoff * 2**attempt`` s between tries.

    Connection errors, timeouts, truncated bodies and HTTP 408/425/429/5xx are retried (honouring
    ``Retry-After``); anything else fails at once. The final :class:`DownloadError` names the URL
    and ends with ``advice``.

    >>> with_retries(lambda: 42, url="http://x", retries=0, backoff=0, advice="")
    42
    """
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            return action()
        except (
            _Transient,
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            last = exc
            if attempt < retries:
                delay = backoff * 2**attempt
                if isinstance(exc, _Transient) and exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER_S))
                time.sleep(delay)
    raise DownloadError(f"could not fetch {url} after {retries + 1} attempt(s): {last}. {advice}".strip())


def check_status(response: requests.Response, url: str, advice: str) -> None:
    """Raise a retryable error for 408/425/429/5xx and :class:`DownloadError` for other 4xx."""
    code = response.status_code
    if code in RETRY_STATUS:
        retry_after = response.headers.get("Retry-After")
        response.close()
        raise _Transient(f"HTTP {code}", float(retry_after) if retry_after and retry_after.isdigit() else None)
    if code >= 400:
        response.close()
        raise DownloadError(f"could not fetch {url}: HTTP {code} {response.reason}. {advice}".strip())


def get_json(
    url: str,
    params: Mapping[str, Any],
    *,
    session: requests.Session | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    advice: str = "",
) -> Any:
    """GET ``url`` with query ``params`` and return the decoded JSON body, with retries."""
    http = session or requests.Session()

    def attempt() -> Any:
        response = http.get(url, params=dict(params), headers={"User-Agent": user_agent()}, timeout=timeout)
        check_status(response, url, advice)
        try:
            return response.json()
        except ValueError as exc:  # a proxy's HTML error page, or a cut-off body
            raise _Transient(f"response is not JSON ({exc})") from exc

    return with_retries(attempt, url=url, retries=retries, backoff=backoff, advice=advice)


def fetch(
    url: str,
    dest: PathLike,
    *,
    expected_sha256: str | None = None,
    expected_min_bytes: int | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    session: requests.Session | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest``.

    The body is streamed (with a tqdm bar) into a temporary file next to ``dest``; its size must
    equal ``Content-Length`` when the server sends one, be at least ``expected_min_bytes`` and
    hash to ``expected_sha256`` when given. Failed attempts are retried ``retries`` times with
    exponential backoff; the final failure raises :class:`DownloadError` and leaves no file.

    >>> fetch("https://raw.githubusercontent.com/yanaiela/pararel/main/LICENSE", "/tmp/LICENSE")  # doctest: +SKIP
    PosixPath('/tmp/LICENSE')
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    advice = f"Check the network, or download it manually to {dest} (or pass path= to load())."
    http = session or requests.Session()

    def attempt() -> Path:
        # identity encoding: Content-Length then counts the bytes we write
        headers = {"User-Agent": user_agent(), "Accept-Encoding": "identity"}
        response = http.get(url, stream=True, timeout=timeout, headers=headers)
        check_status(response, url, advice)
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() and not response.headers.get("Content-Encoding") else None
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            digest, size = hashlib.sha256(), 0
            with (
                os.fdopen(fd, "wb") as out,
                response,
                tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False) as bar,
            ):
                for chunk in response.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
            if total is not None and size != total:
                raise _Transient(f"truncated body: got {size} of {total} bytes (Content-Length)")
            if expected_min_bytes is not None and size < expected_min_bytes:
                raise DownloadError(
                    f"{url} returned {size} bytes, expected at least {expected_min_bytes} (an error page?). {advice}"
                )
            if expected_sha256 is not None and digest.hexdigest() != expected_sha256.lower():
                raise DownloadError(
                    f"checksum mismatch for {url}: sha256 {digest.hexdigest()}, expected {expected_sha256}. {advice}"
                )
            os.replace(tmp, dest)
            return dest
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    return with_retries(attempt, url=url, retries=retries, backoff=backoff, advice=advice)


def fetch_missing(
    files: Iterable[tuple[str, Path]],
    *,
    desc: str,
    force: bool = False,
    retries: int = 3,
    backoff: float = 1.0,
    session: requests.Session | None = None,
) -> None:
    """Fetch each ``(url, dest)`` whose ``dest`` is absent (all of them if ``force``), one bar in all.

    Files already present are complete (they were written atomically), so an interrupted
    multi-file download resumes where it stopped.
    """
    todo = [(url, dest) for url, dest in files if force or not dest.is_file()]
    if not todo:
        return
    http = session or requests.Session()
    for url, dest in tqdm(todo, desc=desc, unit="file", disable=len(todo) < 2):
        fetch(url, dest, retries=retries, backoff=backoff, session=http, progress=len(todo) == 1)
