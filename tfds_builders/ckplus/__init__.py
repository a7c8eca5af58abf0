"""CK+ builder; importing this package registers `ckplus` with TFDS."""
from tfds_builders.ckplus.ckplus import Ckplus, CkplusConfig
