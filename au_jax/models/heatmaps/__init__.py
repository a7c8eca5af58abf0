"""AU heatmap regression (Sanchez et al., BMVC 2018): `targets` (Eq. 1),
`network` (single hourglass), `loss` (Eq. 2, adaptive AU weights), `model`
(transform, build)."""
from au_jax.models.heatmaps.model import SPEC

__all__ = ["SPEC"]
