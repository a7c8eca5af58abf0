"""Deep Structure Inference Network (Corneanu et al., ECCV 2018): `model`
(patch CNNs, fusion, structure inference, build), `loss` (L_Pi, L_Phi,
L_Omega, chi sparsity), `transform` (face + landmark-centred patches)."""
from au_jax.models.dsin.model import SPEC

__all__ = ["SPEC"]
