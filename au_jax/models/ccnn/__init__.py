"""Copula CNN, CCNN-IT (Walecki et al., CVPR 2017): `model` (network, heads,
transform, build), `loss` (composite likelihoods, SCNN's linear pairwise),
`report` (Table 1 layout, dependency graphs, theta vs truth)."""
from au_jax.models.ccnn.model import SPEC

__all__ = ["SPEC"]
