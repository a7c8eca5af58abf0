"""SEMAINE (FERA 2015) builder; importing this package registers `semaine` with TFDS."""
from tfds_builders.semaine.semaine import Semaine, SemaineConfig
