"""interp: does instruction tuning make a language model more consistent, and why?

A mechanistic-interpretability toolkit on TransformerLens ``TransformerBridge`` hooks that
reproduces Fierro, Li & Søgaard (2024) for any base model and its instruction-tuned counterparts.
"""

__version__ = "0.1.0"
