"""synthetic_au: the procedural AU dataset (importing this registers the builder)."""
from tfds_builders.synthetic_au.synthetic_au import SyntheticAu, SyntheticAuConfig

__all__ = ["SyntheticAu", "SyntheticAuConfig"]
