"""Wikipedia snippets that mention a subject (the paper's Appendix D, after Geva et al. 2023).

:func:`fetch_snippets` asks the MediaWiki search API for the top ``n`` (default 500) results for the
subject name with the ``classic`` ranking profile (incoming links, templates, language, recency) and
keeps each result's snippet as plain text.

The query is the subject name UNQUOTED (``srsearch=Leo Tolstoy``), not a phrase search: the paper
(footnote 14) says "the mention can include extra text in between words of the subject", which is
what an unquoted search does (all words must occur, not necessarily adjacent).

Each subject's result is cached as one JSON file in ``cache_dir`` (default
``$INTERP_CACHE/data/wikipedia``)::

    {"subject": ..., "n": 500, "query": ..., "api_url": ..., "srqiprofile": "classic",
     "fetched_at": "2024-05-01T12:00:00+00:00", "snippets": [...]}

A cache file answers any request for at most ``n`` snippets (or for more, when the search returned
fewer than ``n``: the results are exhausted). With ``offline=True`` only the cache is read.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from tqdm.auto import tqdm

from interp.data._download import get_json
from interp.data._io import DataFormatError, DownloadError, PathLike, default_dir, write_atomic

NAME = "wikipedia"
API_URL = "https://en.wikipedia.org/w/api.php"

log = logging.getLogger(__name__)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_last_request: dict[str, float] = {}
_rate_lock = threading.Lock()


class MissingSnippets(LookupError):
    """Offline mode found no cache file for the subject."""

    def __init__(self, subject: str, path: Path):
        self.subject, self.path = subject, path
        super().__init__(f"no cached Wikipedia snippets for {subject!r} (looked for {path}); fetch them online first")


@dataclass(frozen=True)
class SnippetsResult:
    """Snippets per subject (only subjects with at least one) and the subjects without any."""

    snippets: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def clean_snippet(snippet: str) -> str:
    """Plain text of an API snippet: tags removed, entities unescaped, whitespace collapsed.

    >>> clean_snippet('<span class="searchmatch">Paris</span> is the capital &amp; largest city')
    'Paris is the capital & largest city'
    """
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", snippet))).strip()


def cache_file(subject: str, cache_dir: PathLike | None = None) -> Path:
    """The cache file of ``subject``: a safe ASCII name plus a hash that keeps names distinct.

    >>> cache_file("Nestlé", "/tmp/w").name
    'Nestl-8779da72.json'
    """
    root = Path(cache_dir) if cache_dir is not None else default_dir(NAME)
    safe = _UNSAFE.sub("_", subject).strip("._")[:80] or "subject"
    return root / f"{safe}-{hashlib.sha1(subject.encode('utf-8')).hexdigest()[:8]}.json"


def _read_cache(path: Path, subject: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, None, "a JSON snippet cache file", str(exc)) from exc
    if (
        not isinstance(data, dict)
        or data.get("subject") != subject
        or not isinstance(data.get("n"), int)
        or not isinstance(data.get("snippets"), list)
    ):
        raise DataFormatError(path, None, f"a snippet cache for {subject!r} with keys subject, n, snippets")
    return data


def write_cache(
    subject: str, n: int, snippets: list[str], cache_dir: PathLike | None = None, *, api_url: str = API_URL
) -> Path:
    """Write the cache file of ``subject`` atomically (the format :func:`fetch_snippets` reads).

    >>> import tempfile
    >>> write_cache("Paris", 2, ["Paris is the capital of France."], tempfile.mkdtemp()).name
    'Paris-22390ad1.json'
    """
    data = {
        "subject": subject,
        "n": n,
        "query": subject,
        "api_url": api_url,
        "srqiprofile": "classic",
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "snippets": snippets,
    }
    return write_atomic(cache_file(subject, cache_dir), json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def _wait(api_url: str, min_interval_s: float) -> None:
    with _rate_lock:
        delay = _last_request.get(api_url, 0.0) + min_interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        _last_request[api_url] = time.monotonic()


def _search(
    subject: str,
    n: int,
    *,
    session: requests.Session,
    api_url: str,
    min_interval_s: float,
    retries: int,
    backoff: float,
) -> list[str]:
    params: dict[str, Any] = {
        "action": "query",
        "list": "search",
        "srsearch": subject,
        "srlimit": "max",  # 500 per request for anonymous clients
        "srqiprofile": "classic",
        "srprop": "snippet",
        "format": "json",
    }
    snippets: list[str] = []
    advice = "Retry later, or run offline with the snippet cache (offline=True)."
    while len(snippets) < n:
        _wait(api_url, min_interval_s)
        data = get_json(api_url, params, session=session, retries=retries, backoff=backoff, advice=advice)
        if "error" in data:
            raise DownloadError(f"MediaWiki API error for {subject!r} at {api_url}: {data['error']}. {advice}")
        hits = data.get("query", {}).get("search", [])
        snippets += [clean_snippet(hit.get("snippet", "")) for hit in hits]
        if not hits or "continue" not in data:
            break
        params.update(data["continue"])  # carries sroffset (and the API's "continue" token)
    return [s for s in snippets if s][:n]


def fetch_snippets(
    subject: str,
    n: int = 500,
    *,
    cache_dir: PathLike | None = None,
    offline: bool = False,
    session: requests.Session | None = None,
    api_url: str = API_URL,
    min_interval_s: float = 0.1,
    retries: int = 3,
    backoff: float = 1.0,
) -> list[str]:
    """The top ``n`` Wikipedia search snippets mentioning ``subject`` (plain text), cached.

    Raises :class:`MissingSnippets` when ``offline`` and the subject is not cached, and
    :class:`~interp.data.DownloadError` when the API cannot be reached.

    >>> from interp.data import demo_path
    >>> fetch_snippets("France", 5, cache_dir=demo_path("wikipedia"), offline=True)[0]  # doctest: +ELLIPSIS
    '...'
    """
    path = cache_file(subject, cache_dir)
    cached = _read_cache(path, subject)
    if cached is not None:
        exhausted = len(cached["snippets"]) < cached["n"]
        if cached["n"] >= n or exhausted or offline:
            if cached["n"] < n and not exhausted:
                log.warning("cache of %r holds %d snippets, fewer than the %d asked (offline)", subject, cached["n"], n)
            return list(cached["snippets"][:n])
    if offline:
        raise MissingSnippets(subject, path)
    snippets = _search(
        subject, n, session=session or requests.Session(), api_url=api_url,
        min_interval_s=min_interval_s, retries=retries, backoff=backoff,
    )  # fmt: skip
    write_cache(subject, n, snippets, cache_dir, api_url=api_url)
    return snippets


def fetch_many(
    subjects: Iterable[str],
    n: int = 500,
    *,
    cache_dir: PathLike | None = None,
    offline: bool = False,
    session: requests.Session | None = None,
    api_url: str = API_URL,
    min_interval_s: float = 0.1,
    progress: bool = True,
) -> SnippetsResult:
    """Snippets for many subjects (duplicates fetched once). Subjects without snippets (not cached
    when ``offline``, or no search result) are listed in ``missing``, in input order. Online, a
    network failure raises :class:`~interp.data.DownloadError`; subjects fetched so far stay cached.

    >>> from interp.data import demo_path
    >>> r = fetch_many(["France", "No Such Subject"], 5, cache_dir=demo_path("wikipedia"), offline=True)
    >>> list(r.snippets), r.missing
    (['France'], ['No Such Subject'])
    """
    http = session or requests.Session()
    result = SnippetsResult()
    unique = list(dict.fromkeys(subjects))
    for subject in tqdm(unique, desc="Wikipedia snippets", unit="subject", disable=not progress or len(unique) < 2):
        try:
            snippets = fetch_snippets(
                subject, n, cache_dir=cache_dir, offline=offline, session=http,
                api_url=api_url, min_interval_s=min_interval_s,
            )  # fmt: skip
        except MissingSnippets:
            snippets = []
        if snippets:
            result.snippets[subject] = snippets
        else:
            result.missing.append(subject)
    return result
