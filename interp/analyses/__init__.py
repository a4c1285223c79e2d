"""One module per paper artefact; each is a pure function of captured activations or predictions
and dataset records, returning a result dataclass with ``to_dict`` / ``from_dict``. Nothing here
runs a model: :mod:`interp.capture`, :mod:`interp.scoring` and :mod:`interp.finetune` (the BECEL
classifiers) produce the activations and predictions.

* :mod:`~interp.analyses.paraphrase_gap` — Table 1/4, Fig. 4/6/7
* :mod:`~interp.analyses.relations` — Fig. 3
* :mod:`~interp.analyses.consistency` — Tables 2, 5, 6 (PARAREL, MMLU, BECEL)
* :mod:`~interp.analyses.attributes` — Fig. 2
* :mod:`~interp.analyses.extraction` — Fig. 5/8, Table 7
"""
