"""Alg. 1 of the paper (training procedure of DSIN) as a stage schedule.

  0 anchors fits the reference anchors of Sec. 4.1 on the training split
            (a fit stage: one global step, no optimiser update)
  1 pp      trains the patch CNNs              loss_weights pp=1
  2 fusion  trains "fusion" (PP frozen)        fusion=1
  3 pp_f    trains the patch CNNs and fusion   pp=1, fusion=1
  4 si      trains "structure" (PP, F frozen)  si=1
  5 all     trains every trainable group       pp=0.25, fusion=0.25, si=0.5 (w1, w2, w3)

"The patch CNNs" are the groups "patch_conv" and "patch_fc"; a transfer
with fixed convolutions (Sec. 4.1: "We fix the convolutional filters
throughout the rest of the training") passes `fixed_conv=True`, and no stage
then names "patch_conv" (step 5's "all" is spelt out for that reason).

Model selection ("early stopping", Sec. 4.1): only the validation
evaluations of the LAST stage (step 5 "all"; step 3 "pp_f" without
structure inference) are candidates; every earlier stage has select=False
(logged, not selectable, no patience). An evaluation scores the model's
output, y^T (f without SI), which during steps 1-4 comes from parts that are
not trained yet (the SI at its N(0, sigma^2) initialisation in steps 1-3, a
fusion of untrained patch networks in step 1): selecting there would return
a model whose later parts were never trained (seen on dsin_synthetic: step
400 of 600, inside step 3, was selected, and the reported DSIN was the SI at
its initialisation). Alg. 1's output is the model after step 5, so early
stopping chooses among step 5's evaluations.
"""
from __future__ import annotations

from au_jax.models.dsin.model import ANCHORS, STEP5_WEIGHTS


def alg1_stages(steps: tuple[int, int, int, int, int], has_si: bool = True,
                fixed_conv: bool = False) -> list[dict]:
  """Alg. 1's five steps as stages (steps 4-5 only with structure inference),
  after the fit of the reference anchors; only the last stage's validation
  evaluations can be selected."""
  pp, fusion, pp_f, si, all_ = steps
  patch = ["patch_fc"] if fixed_conv else ["patch_conv", "patch_fc"]
  stages = [
      dict(name="anchors", fit=ANCHORS),
      dict(name="pp", trainable=",".join(patch), steps=pp, loss_weights=dict(pp=1.0)),
      dict(name="fusion", trainable="fusion", steps=fusion, loss_weights=dict(fusion=1.0)),
      dict(name="pp_f", trainable=",".join(patch + ["fusion"]), steps=pp_f,
           loss_weights=dict(pp=1.0, fusion=1.0)),
  ]
  if has_si:
    stages += [
        dict(name="si", trainable="structure", steps=si, loss_weights=dict(si=1.0)),
        dict(name="all", trainable=",".join(patch + ["fusion", "structure"]), steps=all_,
             loss_weights=dict(STEP5_WEIGHTS)),
    ]
  for st in stages[1:-1]:   # model selection on the last stage only (module docstring)
    st["select"] = False
  return stages
