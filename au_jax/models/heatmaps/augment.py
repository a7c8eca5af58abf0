"""Data augmentation of Sanchez et al. (BMVC 2018), Sec. 3.4 and Sec. 4.

Three perturbations, each a pure function and a config option:

landmark perturbation (`perturb_registration`, config `landmark_noise`)
  "we first perturb the landmarks using a small noise, and then we register
  the images according to the eye and mouth positions. Thus, a random
  landmark perturbation ... also implies a random rigid transformation."
  Our records already hold the face registered to the canonical template,
  so the perturbation re-registers that crop: Gaussian noise of sd
  `sigma_px` is added to every landmark, the similarity from the noisy
  landmarks to the template (`au_jax.face.align`, same method as the data's
  registration, default "similarity") is estimated, the image is warped by
  it and the SAME transform is applied to the clean landmarks. The face and
  its landmarks (hence the Eq. 1 targets) move together; only the
  registration is perturbed. The paper gives no noise level ("a small
  noise"); our default is 3 px at the 256 px scale (scaled with the record's
  size), well below the 13 px where Fig. 4 shows the trained model degrade.
  Also the entry point of the landmark-noise robustness test (Fig. 4,
  `robustness.py`), there on test records.

colour perturbation (`perturb_colour`, config `colour_noise`)
  "applying a random perturbation to the RGB channels": each channel is
  multiplied by a factor drawn from U(1 - s, 1 + s) and clipped to [0, 1],
  the colour jitter of the hourglass training code the paper builds on
  (Newell et al.'s stacked hourglass, s = 0.2). The paper gives no s; 0.2.

label perturbation (`perturb_labels`, config `label_noise`, Eq. 3)
  The extracted Eq. 3 reads "I_k <- 0.2 I_k |z| with z ~ N(0, 1)". Taken
  literally every label would shrink to 0.2 |z| I_k (mean 0.16 I_k): the
  network would learn maps peaking at a sixth of the intensity, while
  Sec. 3.5 reads the intensity as the map's maximum, and the text says
  labels are "perturbed", "proportionally to their intensities" because
  annotators disagree about them (a symmetric uncertainty). The term
  that was lost in extraction is the label itself; we read Eq. 3 as

    I_k <- clip(I_k + 0.2 I_k z, 0, 5),   z ~ N(0, 1) per example and AU,

  i.e. zero-mean noise with sd 0.2 I_k (0 stays 0, so an absent AU keeps
  an all-zero map), clipped to the paper's continuous range [0, 5]. The
  |z| of the extraction would make the noise one-sided (labels only raised),
  biasing every target upwards; we take it for an extraction artefact of
  the sign. "This process only affects the heatmap generation, not the
  loss function": only the Eq. 1 targets use the perturbed intensity; the
  validity mask and the metrics use the annotated label.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from au_jax.face.align import registration_matrix
from au_jax.face.transforms import transform_points, warp_image

PAPER_INPUT = 256   # pixel scale of the paper's noise levels (Fig. 4: 0..55 px at 256)


def noisy_registration(landmarks: np.ndarray, noise: np.ndarray, size: int,
                       method: str = "similarity") -> np.ndarray:
  """Transform [2, 3] re-registering an aligned S x S crop whose landmarks
  [68, 2] are observed with additive `noise` [68, 2] (crop pixels)."""
  return registration_matrix(np.asarray(landmarks, np.float64) + noise, size=size,
                             method=method)


def perturb_registration(image: np.ndarray, landmarks: np.ndarray, sigma_px: float,
                         rng: np.random.Generator, method: str = "similarity"
                         ) -> tuple[np.ndarray, np.ndarray]:
  """Re-register an aligned face with Gaussian-perturbed landmarks.

  Args:
    image: [S, S, 3] uint8 aligned face; landmarks: [68, 2] in its pixels.
    sigma_px: sd of the landmark noise in this crop's pixels.
  Returns:
    (image [S, S, 3] uint8 warped, landmarks [68, 2] float32 = the clean
    landmarks moved by the same transform).
  """
  size = image.shape[0]
  noise = rng.normal(0.0, sigma_px, np.shape(landmarks))
  m = noisy_registration(landmarks, noise, size, method)
  return (warp_image(image, m, size),
          transform_points(landmarks, m).astype(np.float32))


def perturb_colour(image: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
  """image [S, S, 3] in [0, 1] with each channel scaled by U(1 - s, 1 + s), clipped."""
  gain = rng.uniform(1.0 - scale, 1.0 + scale, 3).astype(np.float32)
  return np.clip(image * gain, 0.0, 1.0)


def perturb_labels(key: jax.Array, intensity: jax.Array, scale: float = 0.2) -> jax.Array:
  """Eq. 3 as read above: clip(I + scale I z, 0, 5); unknown labels (< 0) kept.

  intensity: [B, A] (int or float); returns float32 [B, A].
  """
  i = intensity.astype(jnp.float32)
  z = jax.random.normal(key, i.shape)
  return jnp.where(i >= 0, jnp.clip(i + scale * i * z, 0.0, 5.0), i)
