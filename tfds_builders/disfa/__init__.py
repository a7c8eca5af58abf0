"""DISFA builder; importing this package registers `disfa` with TFDS."""
from tfds_builders.disfa.disfa import Disfa
