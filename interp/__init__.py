"""interp: does instruction tuning make a language model more consistent, and why?

A mechanistic-interpretability toolkit on TransformerLens ``TransformerBridge`` hooks that
reproduces Fierro, Li & Søgaard (2024) for any base model and its instruction-tuned counterparts.

Example:
    >>> import interp
    >>> model = interp.load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> acts = interp.capture(model, ["The Eiffel Tower is located in the city of"])  # doctest: +SKIP
    >>> interp.lens.top_k(model, acts.final, k=1, normed=True).strings  # doctest: +SKIP
    [[' Paris']]
"""

from interp.models import ALIASES, Model, from_hf, load_model
from interp.capture import Activations, Span, capture
from interp import lens

__version__ = "0.1.0"
__all__ = ["ALIASES", "Activations", "Model", "Span", "capture", "from_hf", "lens", "load_model"]
