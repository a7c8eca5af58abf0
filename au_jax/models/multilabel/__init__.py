"""Multi-label CNN + QDA (Ghosh et al., ACII 2015): `model` (network, transform,
QDA head, build), `loss` (multi-label softmax, Eqs. 1-2), `report` (Tables
I-III layout, Fig. 4 phi heatmaps)."""
from au_jax.models.multilabel.model import SPEC

__all__ = ["SPEC"]
