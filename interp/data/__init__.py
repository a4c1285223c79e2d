"""Datasets of the reproduction, one module each: read the original file format, or download it.

* :mod:`~interp.data.pararel` - PARAREL relations, patterns and T-REx facts
* :mod:`~interp.data.mrpc` - MRPC sentence pairs (GLUE splits)
* :mod:`~interp.data.tapaco` - TaPaCo English paraphrase sets
* :mod:`~interp.data.mmlu` - MMLU questions
* :mod:`~interp.data.becel` - BECEL splits and perturbed (semantic/negational/symmetric) pairs
* :mod:`~interp.data.wikipedia` - Wikipedia snippets per subject (cached)
* :mod:`~interp.data.attributes` - subject-attribute token sets and the shared token filter

Every ``load(path=None, ...)`` reads a local copy; without ``path`` it uses the cache
``$INTERP_CACHE/data/<name>`` (default ``~/.cache/interp/data/<name>``) and downloads what is
missing. :func:`demo_path` gives the small hand-written demo set of the repository (``data/``).

>>> from interp.data import demo_path, pararel
>>> len(pararel.load(demo_path("pararel"))) > 0
True
"""

from interp.data import attributes, becel, mmlu, mrpc, pararel, tapaco, wikipedia
from interp.data._io import DataFormatError, DownloadError, cache_root, default_dir, demo_path

__all__ = [
    "DataFormatError",
    "DownloadError",
    "attributes",
    "becel",
    "cache_root",
    "default_dir",
    "demo_path",
    "mmlu",
    "mrpc",
    "pararel",
    "tapaco",
    "wikipedia",
]
