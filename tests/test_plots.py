"""au_jax.inference.plots on tables of images (x = frame) and of a video (x = time)."""
import numpy as np
import pandas as pd

from au_jax.inference import plots


def _table(timestamps):
  n = len(timestamps)
  return pd.DataFrame({"input": ["a.png"] * n, "frame": np.arange(n), "face_id": [0] * n,
                       "timestamp": timestamps, "success": [1] * n,
                       "AU12_r": np.linspace(0, 5, n), "AU06_r": np.linspace(5, 0, n)})


def test_au_traces_of_images_and_of_a_video(tmp_path):
  for name, ts in (("images", np.zeros(4)), ("video", np.arange(4) / 25.0)):
    path = plots.au_traces(_table(ts), str(tmp_path / f"{name}.png"))
    assert (tmp_path / f"{name}.png").stat().st_size > 1000 and path.endswith(f"{name}.png")
