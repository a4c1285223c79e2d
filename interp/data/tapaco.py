"""TaPaCo (Scherrer, 2020), English: sets of sentences that paraphrase one another.

``en.txt`` is a TSV without header, 5 columns ``paraphrase_set_id  sentence_id  paraphrase  lists
tags`` (``lists``/``tags`` ``;``-separated, possibly empty); the release's last line has no
trailing tab or newline, so trailing empty columns may be missing (3 or 4 fields). No quoting:
sentences may contain ``"``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from interp.data._download import fetch
from interp.data._io import DataFormatError, DownloadError, PathLike, default_dir, iter_lines

NAME = "tapaco"
ZIP_URL = "https://zenodo.org/record/3707949/files/tapaco_v1.0.zip"
ZIP_MEMBER = "tapaco_v1.0/en.txt"
FILE_NAME = "en.txt"
ZIP_MIN_BYTES: int | None = 1_000_000  # the release is about 32 MB; anything tiny is an error page


@dataclass(frozen=True)
class ParaphraseSet:
    """Sentences of one paraphrase set, in file order: ``ParaphraseSet("1", ("I ate.", "I've eaten."))``."""

    id: str
    sentences: tuple[str, ...]


def load(path: PathLike | None = None, *, min_size: int = 2, limit_sets: int | None = None) -> list[ParaphraseSet]:
    """Read TaPaCo's ``en.txt`` (``path`` is the file or its directory; default: the cache).

    Keeps the sets with at least ``min_size`` sentences, in order of first appearance, and at most
    ``limit_sets`` of them.

    >>> from interp.data import demo_path
    >>> sets = load(demo_path("tapaco"))
    >>> len(sets[0].sentences) >= 2
    True
    """
    if path is None:
        path = download()
    file = Path(path)
    if file.is_dir():
        file = file / FILE_NAME
    groups: dict[str, list[str]] = {}
    for line, text in iter_lines(file, "TaPaCo's en.txt"):
        fields = text.split("\t")
        # lists/tags may be cut off at the end of a line (the release's last line has no tags)
        if not 3 <= len(fields) <= 5 or not fields[0].strip() or not fields[2].strip():
            raise DataFormatError(
                file,
                line,
                "5 tab-separated fields: paraphrase_set_id, sentence_id, paraphrase, lists, tags",
                f"{len(fields)} fields",
            )
        groups.setdefault(fields[0], []).append(fields[2])
    out = []
    for set_id, sentences in groups.items():
        if len(sentences) >= min_size:
            out.append(ParaphraseSet(set_id, tuple(sentences)))
            if limit_sets is not None and len(out) >= limit_sets:
                break
    return out


def download(cache_dir: PathLike | None = None, *, force: bool = False) -> Path:
    """Fetch ``tapaco_v1.0.zip`` from Zenodo and extract ``en.txt`` (atomically); return the dir.

    The zip is removed after extraction.

    >>> download("/tmp/tapaco")  # doctest: +SKIP
    PosixPath('/tmp/tapaco')
    """
    root = Path(cache_dir) if cache_dir is not None else default_dir(NAME)
    dest = root / FILE_NAME
    if dest.is_file() and not force:
        return root
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "tapaco_v1.0.zip"
    fetch(ZIP_URL, archive, expected_min_bytes=ZIP_MIN_BYTES)
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(ZIP_MEMBER) as member:
            fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{FILE_NAME}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := member.read(1 << 20):
                        out.write(chunk)
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DownloadError(
            f"{ZIP_URL} did not give a zip with {ZIP_MEMBER} ({exc}). Download it manually, extract "
            f"{ZIP_MEMBER} to {dest}, or pass path= to load()."
        ) from exc
    finally:
        archive.unlink(missing_ok=True)
    return root
