"""FERA 2015 CNN (Gudi et al., FG 2015): `model` (network, transform, build)."""
from au_jax.models.gudi.model import SPEC

__all__ = ["SPEC"]
