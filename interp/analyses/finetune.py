"""Moved to :mod:`interp.finetune` (it runs models; the analyses are pure). This alias stays only
until :mod:`interp.pipeline` imports ``run_becel`` from there; delete it then."""

from interp.finetune import run_becel

__all__ = ["run_becel"]
