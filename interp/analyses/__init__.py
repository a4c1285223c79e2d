"""One module per paper artefact. Each holds pure functions of captured activations or predictions
and dataset records, returning result dataclasses (:class:`interp.serial.Serializable`), and ends
with its ``register(Analysis(...))`` (:mod:`interp.registry`): the declaration that wires those
functions into a sweep (what the job captures, which model-running step of
:mod:`interp.capture`, :mod:`interp.scoring` or :mod:`interp.finetune` feeds them, how prompts
pool). The registry imports every module of this package, so adding an analysis is one new module
(CONTRIBUTING.md).

* :mod:`~interp.analyses.consistency` — Tables 2, 5, 6 (PARAREL, MMLU, BECEL)
* :mod:`~interp.analyses.paraphrase_gap` — Table 1/4, Fig. 4/6/7
* :mod:`~interp.analyses.relations` — Fig. 3
* :mod:`~interp.analyses.attributes` — Fig. 2
* :mod:`~interp.analyses.extraction` — Fig. 5/8 (Table 7 is a cross-model summary,
  :mod:`interp.summaries`)
"""
