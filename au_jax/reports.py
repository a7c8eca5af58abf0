"""Method reports: the outputs a method writes after each finished run.

  write(model_name, workdir)

runs the method's report on the run's workdir (the training loop calls it
after the final evaluation; a failure there never loses a finished run):

  ccnn        ccnn_report.{json,md}: Table 1 layout, dependency graphs, theta vs truth
  dsin        dsin_report.{json,md}: Tables 2-3, Fig. 5, the patches
  heatmaps    plots/targets.png, plots/heatmaps.png
  multilabel  multilabel_report.{json,md}: Tables I-III layout, Fig. 4

Some reports restore the trained model through au_jax.inference.model
(TrainedModel); the methods below do not import their reports, and no report
imports the media front end au_jax.predict.
"""
from __future__ import annotations

from typing import Callable

from au_jax.models.ccnn import report as ccnn_report
from au_jax.models.dsin import report as dsin_report
from au_jax.models.heatmaps import report as heatmaps_report
from au_jax.models.multilabel import report as multilabel_report

REPORTS: dict[str, Callable[[str], object]] = {
    "ccnn": ccnn_report.ccnn_outputs,
    "dsin": dsin_report.dsin_outputs,
    "heatmaps": heatmaps_report.write_report,
    "multilabel": multilabel_report.write_report,
}


# Reports that are figures only: left out with config.eval.plots=False.
FIGURES_ONLY = ("heatmaps",)


def write(model_name: str, workdir: str, plots: bool = True) -> None:
  """The report of method `model_name` for a finished `workdir` (none for a
  method without one, or for a figures-only report without `plots`)."""
  report = REPORTS.get(model_name)
  if report is not None and (plots or model_name not in FIGURES_ONLY):
    report(workdir)
