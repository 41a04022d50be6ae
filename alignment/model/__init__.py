"""Fitting run and model folder: the honest fit of the points scale, and scoring with it.

:func:`fit_model` loads the workspace with the real loader, builds point-in-time
features, screens them with the guards, splits the labelled leads in three
windows, fits :class:`~alignment.scorecard.PointsScorecard`, calibrates it, and
writes the model folder. Validation is honest:

- **Time split** (the data has dates): the labelled leads, ordered by scoring
  moment, are cut into the oldest 60% (training: bands, points, regularization),
  the next 20% (calibration: ``CalibratedClassifierCV(FrozenEstimator(scale))``
  maps the score to a win probability) and the newest 20% (hold-out: every
  reported metric). Neither the guards, the scale nor the calibration saw the hold-out.
- Only leads whose horizon has fully passed by the export date are used: a lead
  still inside its horizon is labelled only when it has already won, so keeping
  those wins while leaving out their not-yet-won peers would inflate the newest
  window's win rate.
- **Random split** (no dates): the same 60/20/20 shares, stratified on the
  outcome and seeded; the card says so in ``split.kind`` and in ``warnings``.
- Leads the loader flags as "left out of fitting" (stage dates out of order, a
  won deal without a close date) are left out.

The **calibration** is Platt scaling (``method="sigmoid"``): the score is linear in
the scale's logit, so two parameters re-anchor it on newer leads and stay stable
on a small calibration window. The **challenger** is a
``HistGradientBoostingClassifier`` on the same training rows (at most
``CHALLENGER_MAX_ROWS``, seeded subsample above) and calibrated the same way.
The **practitioner check** (MadKudu): the top grades, i.e. the grade cells with
the highest training win rate taken until they hold at least 15% of the training
leads, must hold 15-35% of the hold-out leads and at least 60% of its wins; and
the best score decile of the hold-out must convert at least 10x the worst.

``fit`` (the fit run: split, scale, calibration, challenger, hold-out checks, the card), ``folder`` (the
model folder: written atomically, read back, :class:`FittedModel`) and ``scoring`` (``alignment score``).
"""

from alignment.model.fit import (
    CALIBRATION_METHOD,
    EFFECT_RULE,
    SPLIT_SHARES,
    TrainingSplit,
    effect_recovery,
    fit_model,
    practitioner_check,
    run_fit,
    screen_workspace,
    training_split,
    with_scoring,
)
from alignment.model.folder import (
    CARD,
    PIPELINE,
    POINTS,
    SCORE_COLUMNS,
    VALIDATION,
    VALIDATION_COLUMNS,
    FittedModel,
    find_model,
    load_model,
)
from alignment.model.scoring import read_leads_to_score, run_score

__all__ = [
    "CALIBRATION_METHOD",
    "CARD",
    "EFFECT_RULE",
    "FittedModel",
    "PIPELINE",
    "POINTS",
    "SCORE_COLUMNS",
    "SPLIT_SHARES",
    "TrainingSplit",
    "VALIDATION",
    "VALIDATION_COLUMNS",
    "effect_recovery",
    "find_model",
    "fit_model",
    "load_model",
    "practitioner_check",
    "read_leads_to_score",
    "run_fit",
    "run_score",
    "screen_workspace",
    "training_split",
    "with_scoring",
]
