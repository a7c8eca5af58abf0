"""UNBC-McMaster builder; importing this package registers `unbc_mcmaster` with TFDS."""
from tfds_builders.unbc_mcmaster.unbc_mcmaster import UnbcMcmaster
