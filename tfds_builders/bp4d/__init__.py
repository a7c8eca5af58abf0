"""BP4D-Spontaneous builder; importing this package registers `bp4d` with TFDS."""
from tfds_builders.bp4d.bp4d import Bp4d
