"""Downloads and the Wikipedia client against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from interp.data import DownloadError, becel, mmlu, mrpc, pararel, tapaco, wikipedia
from interp.data._download import fetch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"

# A route answers (status, body, headers); a callable gets the parsed query string.
Route = tuple[int, bytes, dict[str, str]] | Callable[[dict[str, list[str]]], tuple[int, bytes, dict[str, str]]]


@dataclass
class Server:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    truncate: set[str] = field(default_factory=set)  # paths whose body is cut short

    def file(self, path: str, data: bytes) -> None:
        self.routes[path] = (200, data, {})

    def tree(self, prefix: str, root: Path) -> None:
        for p in root.rglob("*"):
            if p.is_file():
                self.file(f"{prefix}/{p.relative_to(root).as_posix()}", p.read_bytes())


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state: dict[str, Server] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            srv = state["srv"]
            parts = urlsplit(self.path)
            srv.hits[parts.path] += 1
            route = srv.routes.get(parts.path, (404, b"not found", {}))
            status, body, headers = route(parse_qs(parts.query)) if callable(route) else route
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if parts.path in srv.truncate else body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["srv"] = Server(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["srv"]
    httpd.shutdown()
    httpd.server_close()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- fetch ----------------------------------------------------------------------------------------


def test_fetch_ok_with_checksum(server: Server, tmp_path: Path) -> None:
    data = b"hello world\n" * 1000
    server.file("/f.txt", data)
    dest = fetch(f"{server.url}/f.txt", tmp_path / "d" / "f.txt", expected_sha256=hashlib.sha256(data).hexdigest(),
                 expected_min_bytes=10, progress=False)  # fmt: skip
    assert dest.read_bytes() == data
    assert _files(tmp_path / "d") == ["f.txt"]


def test_fetch_retries_500_then_fails_without_file(server: Server, tmp_path: Path) -> None:
    server.routes["/f.txt"] = (500, b"boom", {})
    with pytest.raises(DownloadError, match=r"/f\.txt after 3 attempt\(s\): HTTP 500.*download it manually to"):
        fetch(f"{server.url}/f.txt", tmp_path / "f.txt", retries=2, backoff=0, progress=False)
    assert server.hits["/f.txt"] == 3
    assert _files(tmp_path) == []


def test_fetch_recovers_after_transient_error(server: Server, tmp_path: Path) -> None:
    calls = iter([(503, b"busy", {"Retry-After": "0"}), (200, b"payload", {})])
    server.routes["/f.txt"] = lambda query: next(calls)
    assert fetch(f"{server.url}/f.txt", tmp_path / "f.txt", backoff=0, progress=False).read_bytes() == b"payload"
    assert server.hits["/f.txt"] == 2


def test_fetch_404_fails_at_once(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server.url}/missing", tmp_path / "f.txt", backoff=0, progress=False)
    assert server.hits["/missing"] == 1


def test_fetch_truncated_body_leaves_no_file(server: Server, tmp_path: Path) -> None:
    server.file("/f.bin", b"x" * 10_000)
    server.truncate.add("/f.bin")
    with pytest.raises(DownloadError, match=r"after 2 attempt"):
        fetch(f"{server.url}/f.bin", tmp_path / "f.bin", retries=1, backoff=0, progress=False)
    assert server.hits["/f.bin"] == 2
    assert _files(tmp_path) == []


def test_fetch_checksum_and_size_mismatch(server: Server, tmp_path: Path) -> None:
    server.file("/f.txt", b"content")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(f"{server.url}/f.txt", tmp_path / "f.txt", expected_sha256="0" * 64, backoff=0, progress=False)
    with pytest.raises(DownloadError, match="expected at least 1000"):
        fetch(f"{server.url}/f.txt", tmp_path / "f.txt", expected_min_bytes=1000, backoff=0, progress=False)
    assert _files(tmp_path) == []


def test_fetch_keeps_existing_file_on_failure(server: Server, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("old")
    server.routes["/f.txt"] = (500, b"", {})
    with pytest.raises(DownloadError):
        fetch(f"{server.url}/f.txt", tmp_path / "f.txt", retries=0, progress=False)
    assert (tmp_path / "f.txt").read_text() == "old"


def test_connection_refused_is_a_download_error(tmp_path: Path) -> None:
    with socket_closed_port() as url, pytest.raises(DownloadError, match="pass path= to load"):
        fetch(url, tmp_path / "f.txt", retries=1, backoff=0, progress=False)


class socket_closed_port:  # noqa: N801 - used as a context manager
    """A URL on 127.0.0.1 whose port has nothing listening."""

    def __enter__(self) -> str:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        return f"http://127.0.0.1:{port}/x"

    def __exit__(self, *exc: object) -> None:
        pass


# --- dataset downloads ------------------------------------------------------------------------------


def test_pararel_download(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.tree("/pararel", FIXTURES / "pararel")
    server.file("/lama.jsonl", (FIXTURES / "pararel" / "lama_trex_relations.jsonl").read_bytes())
    monkeypatch.setattr(pararel, "BASE_URL", f"{server.url}/pararel")
    monkeypatch.setattr(pararel, "LAMA_RELATIONS_URL", f"{server.url}/lama.jsonl")
    monkeypatch.setattr(pararel, "RELATION_IDS", ("P1", "P2", "P10"))
    root = pararel.download(tmp_path / "pararel")
    assert pararel.load(root) == pararel.load(FIXTURES / "pararel")
    hits = sum(server.hits.values())
    pararel.download(tmp_path / "pararel")  # complete: nothing fetched again
    assert sum(server.hits.values()) == hits


def test_load_without_path_uses_cache(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    server.tree("/mmlu", FIXTURES / "mmlu")
    monkeypatch.setattr(mmlu, "BASE_URL", f"{server.url}/mmlu")
    monkeypatch.setattr(mmlu, "SUBJECTS", ("alpha", "beta"))
    assert mmlu.load() == mmlu.load(FIXTURES / "mmlu")
    assert (tmp_path / "cache" / "data" / "mmlu" / "test" / "alpha_test.csv").is_file()


def test_mmlu_download_failure_names_url(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mmlu, "BASE_URL", f"{server.url}/nothing")
    with pytest.raises(DownloadError, match=r"nothing/test/abstract_algebra_test\.csv: HTTP 404"):
        mmlu.download(tmp_path, splits=["test"])
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_mrpc_download_builds_glue_splits(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.tree("/mrpc", FIXTURES / "mrpc")
    monkeypatch.setattr(mrpc, "BASE_URL", f"{server.url}/mrpc")
    root = mrpc.download(tmp_path / "m")
    assert (root / "dev.tsv").read_bytes() == (FIXTURES / "mrpc" / "dev.tsv").read_bytes()
    assert mrpc.load(root, "test") == mrpc.load(FIXTURES / "mrpc", "test")


def test_becel_download(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.tree("/becel", FIXTURES / "becel")
    monkeypatch.setattr(becel, "BASE_URL", f"{server.url}/becel")
    monkeypatch.setitem(becel.FILES, "rte", ("validation", "symmetric"))
    root = becel.download(tmp_path / "b", tasks=["rte"])
    assert becel.load(root, tasks=["rte"]) == becel.load(FIXTURES / "becel", tasks=["rte"])


def test_tapaco_download_extracts_en_txt(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tapaco_v1.0/en.txt", (FIXTURES / "tapaco" / "en.txt").read_bytes())
        zf.writestr("tapaco_v1.0/fr.txt", b"1\t1\tBonjour.\t\t\n")
    server.file("/tapaco.zip", buf.getvalue())
    server.file("/broken.zip", b"this is not a zip")
    monkeypatch.setattr(tapaco, "ZIP_MIN_BYTES", None)
    monkeypatch.setattr(tapaco, "ZIP_URL", f"{server.url}/tapaco.zip")
    root = tapaco.download(tmp_path / "t")
    assert _files(root) == ["en.txt"]  # zip removed, only English extracted
    assert tapaco.load(root) == tapaco.load(FIXTURES / "tapaco")
    monkeypatch.setattr(tapaco, "ZIP_URL", f"{server.url}/broken.zip")
    with pytest.raises(DownloadError, match="did not give a zip"):
        tapaco.download(tmp_path / "t2")
    assert _files(tmp_path / "t2") == []


# --- Wikipedia --------------------------------------------------------------------------------------

PAGES = [
    [f'<span class="searchmatch">Paris</span> fact {i} &amp; more &quot;quoted&quot;' for i in range(3)],
    ['Another <span class="searchmatch">Paris</span>   snippet', "A fifth one"],
]


def _fake_api(
    requests_seen: list[dict[str, list[str]]],
) -> Callable[[dict[str, list[str]]], tuple[int, bytes, dict[str, str]]]:
    def api(query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        requests_seen.append(query)
        if query["srsearch"] == ["Nowhere"]:
            body: dict[str, object] = {"batchcomplete": "", "query": {"search": []}}
        else:
            offset = int(query.get("sroffset", ["0"])[0])
            page = 0 if offset == 0 else 1
            body = {"query": {"search": [{"title": "t", "snippet": s} for s in PAGES[page]]}}
            if page == 0:
                body["continue"] = {"sroffset": 3, "continue": "-||"}
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}

    return api


def test_wikipedia_continuation_cleaning_and_cache(server: Server, tmp_path: Path) -> None:
    seen: list[dict[str, list[str]]] = []
    server.routes["/w/api.php"] = _fake_api(seen)
    api = f"{server.url}/w/api.php"
    snippets = wikipedia.fetch_snippets("Paris", 10, cache_dir=tmp_path, api_url=api, min_interval_s=0)
    assert snippets == [f'Paris fact {i} & more "quoted"' for i in range(3)] + ["Another Paris snippet", "A fifth one"]
    assert len(seen) == 2 and seen[1]["sroffset"] == ["3"] and seen[1]["continue"] == ["-||"]
    first = seen[0]
    assert first["srsearch"] == ["Paris"]  # unquoted: words of the subject may be apart
    assert (first["list"], first["srlimit"], first["srqiprofile"], first["srprop"]) == (
        ["search"],
        ["max"],
        ["classic"],
        ["snippet"],
    )
    cached = json.loads(wikipedia.cache_file("Paris", tmp_path).read_text(encoding="utf-8"))
    assert (
        cached["subject"] == "Paris" and cached["n"] == 10 and cached["snippets"] == snippets and cached["fetched_at"]
    )
    # cache hits make no request: fewer than n results means the search was exhausted
    assert wikipedia.fetch_snippets("Paris", 2, cache_dir=tmp_path, api_url=api) == snippets[:2]
    assert wikipedia.fetch_snippets("Paris", 500, cache_dir=tmp_path, api_url=api) == snippets
    assert len(seen) == 2


def test_wikipedia_stops_at_n(server: Server, tmp_path: Path) -> None:
    seen: list[dict[str, list[str]]] = []
    server.routes["/w/api.php"] = _fake_api(seen)
    got = wikipedia.fetch_snippets("Paris", 3, cache_dir=tmp_path, api_url=f"{server.url}/w/api.php", min_interval_s=0)
    assert len(got) == 3 and len(seen) == 1


def test_wikipedia_offline_and_fetch_many(server: Server, tmp_path: Path) -> None:
    seen: list[dict[str, list[str]]] = []
    server.routes["/w/api.php"] = _fake_api(seen)
    api = f"{server.url}/w/api.php"
    with pytest.raises(wikipedia.MissingSnippets, match="'Paris'"):
        wikipedia.fetch_snippets("Paris", 5, cache_dir=tmp_path, offline=True, api_url=api)
    assert seen == []
    online = wikipedia.fetch_many(
        ["Paris", "Nowhere", "Paris"], 5, cache_dir=tmp_path, api_url=api, min_interval_s=0, progress=False
    )
    assert list(online.snippets) == ["Paris"] and online.missing == ["Nowhere"]
    calls = len(seen)
    offline = wikipedia.fetch_many(
        ["Paris", "Nowhere", "Never fetched"], 5, cache_dir=tmp_path, offline=True, api_url=api
    )
    assert offline.snippets == online.snippets
    assert offline.missing == ["Nowhere", "Never fetched"]
    assert len(seen) == calls


def test_wikipedia_api_failure(server: Server, tmp_path: Path) -> None:
    server.routes["/w/api.php"] = (500, b"down", {})
    with pytest.raises(DownloadError, match="offline=True"):
        wikipedia.fetch_snippets("Paris", 5, cache_dir=tmp_path, api_url=f"{server.url}/w/api.php",
                                 min_interval_s=0, retries=1, backoff=0)  # fmt: skip
    assert server.hits["/w/api.php"] == 2
    assert list(tmp_path.iterdir()) == []
    server.routes["/w/api.php"] = (200, json.dumps({"error": {"code": "bad"}}).encode(), {})
    with pytest.raises(DownloadError, match="MediaWiki API error"):
        wikipedia.fetch_snippets("Paris", 5, cache_dir=tmp_path, api_url=f"{server.url}/w/api.php", min_interval_s=0)


def test_wikipedia_sends_user_agent_and_rate_limits(server: Server, tmp_path: Path) -> None:
    agents: list[str] = []

    class Recording(requests.Session):
        def request(self, method, url, **kwargs):  # type: ignore[no-untyped-def]
            agents.append(kwargs["headers"]["User-Agent"])
            return super().request(method, url, **kwargs)

    server.routes["/w/api.php"] = _fake_api([])
    import time

    start = time.monotonic()
    wikipedia.fetch_snippets("Paris", 10, cache_dir=tmp_path, api_url=f"{server.url}/w/api.php",
                             session=Recording(), min_interval_s=0.2)  # fmt: skip
    assert time.monotonic() - start >= 0.2  # two requests, 0.2 s apart
    assert agents and all(a.startswith("interp/") for a in agents)


def test_cache_file_names_are_safe_and_distinct(tmp_path: Path) -> None:
    names = {wikipedia.cache_file(s, tmp_path).name for s in ["AC/DC", "AC DC", "Nestlé", "../etc/passwd", ""]}
    assert len(names) == 5
    assert all("/" not in n and n.endswith(".json") and not n.startswith(".") for n in names)
