"""config.model -> module / transform / options kwargs (au_jax/models/hparams.py):
unknown keys fail naming them, defaults come from the module, lists become
tuples, derived fields cannot be set."""
import dataclasses

import pytest

from au_jax.data.sources import DataInfo
from au_jax.models import get_spec, hparams
from au_jax.models.ccnn import model as ccnn
from au_jax.models.gudi import model as gudi

INFO = DataInfo(aus=(1, 2, 4, 6), intensity_coded=(True,) * 4, occurrence_coded=(True,) * 4,
                datasets=("d0",), metadata=({},))


def _field_defaults(module_cls):
  return {f.name: f.default for f in dataclasses.fields(module_cls)
          if f.name not in ("parent", "name") and f.default is not dataclasses.MISSING}


@dataclasses.dataclass(frozen=True)
class _Opts:
  sizes: tuple[int, ...] = (1, 2)
  flag: bool = False


class _Transform:
  def __init__(self, size=8, crop=0.5):
    self.size, self.crop = size, crop


def test_split_routes_renames_and_converts_lists():
  opts_kw, tf_kw = hparams.split_kwargs(
      {"name": "m", "sizes": [3, 4], "input_size": 16, "flag": True}, "m", _Opts, _Transform,
      rename={"input_size": "size"})
  assert opts_kw == {"sizes": (3, 4), "flag": True}
  assert tf_kw == {"size": 16}   # only what the config sets; crop keeps its default


@pytest.mark.parametrize("model,typo,meant", [("gudi_fera2015", "fc_unit", "fc_units"),
                                              ("ccnn", "theta_mx", "theta_max"),
                                              ("ccnn", "bp_iter", "bp_iters"),
                                              ("gudi_fera2015", "size", "input_size")])
def test_misspelled_key_fails_naming_it_and_the_allowed_keys(model, typo, meant):
  with pytest.raises(KeyError) as e:
    get_spec(model).build({"name": model, typo: 1}, INFO)
  msg = str(e.value)
  assert f"unknown key {typo!r} (did you mean {meant!r}?)" in msg
  assert f"{model} takes:" in msg and repr(meant) in msg


def test_derived_field_cannot_be_set():
  with pytest.raises(KeyError, match="num_aus"):
    get_spec("ccnn").build({"name": "ccnn", "num_aus": 3}, INFO)
  with pytest.raises(KeyError, match="num_outputs"):
    get_spec("gudi_fera2015").build({"name": "gudi_fera2015", "num_outputs": 3}, INFO)


def test_gudi_defaults_come_from_the_module_and_transform():
  method = get_spec("gudi_fera2015").build({"name": "gudi_fera2015"}, INFO)
  defaults = _field_defaults(gudi.GudiCNN)
  assert defaults["fc_units"] == 3072   # the test can fail: the paper's value is there
  assert {k: getattr(method.module, k) for k in defaults} == defaults
  assert method.module.num_outputs == 4
  t = method.transform
  assert (t.size, t.registration, t.mirror_prob, t.gcn, t.gcn_max_frames) == (
      48, "eyes_horizontal", 0.5, "session", 200)


def test_ccnn_defaults_come_from_the_module_and_transform():
  method = get_spec("ccnn").build({"name": "ccnn"}, DataInfo(
      aus=INFO.aus, intensity_coded=INFO.intensity_coded,
      occurrence_coded=INFO.occurrence_coded, datasets=("a", "b"), metadata=({}, {})))
  defaults = _field_defaults(ccnn.CCNN)
  assert {k: getattr(method.module, k) for k in defaults if k != "num_datasets"} == {
      k: v for k, v in defaults.items() if k != "num_datasets"}
  assert method.module.num_datasets == 2 and method.module.num_aus == 4
  t = method.transform
  assert (t.size, t.crop, t.registration) == (64, 0.85, "two_eye")


def test_json_lists_build_the_same_module_as_tuples():
  # A restored workdir config (JSON) holds lists where the config file had tuples.
  as_tuple = get_spec("ccnn").build(
      {"name": "ccnn", "features": (4, 8, 8), "pairs": ((0, 1), (2, 3))}, INFO)
  as_list = get_spec("ccnn").build(
      {"name": "ccnn", "features": [4, 8, 8], "pairs": [[0, 1], [2, 3]]}, INFO)
  assert as_list.module == as_tuple.module
  assert as_list.module.pairs == ((0, 1), (2, 3))


def test_ccnn_options_are_checked():
  with pytest.raises(KeyError, match="map_decoder 'bpp'"):
    get_spec("ccnn").build({"name": "ccnn", "map_decoder": "bpp"}, INFO)
  with pytest.raises(KeyError, match="decode 'mode'"):
    get_spec("ccnn").build({"name": "ccnn", "decode": "mode"}, INFO)
