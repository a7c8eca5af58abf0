"""Face geometry: landmark schemes, template registration, warping, detection."""
from au_jax.face.align import (REGISTRATIONS, AlignedFace, align_face, registration_matrix,
                               template_pixels)
from au_jax.face.detect import Detection, detect_faces, detect_landmarks, dlib_available
from au_jax.face.schemes import SCHEMES, to_68
from au_jax.face.template import (CANONICAL_68, JAW, LEFT_BROW, LEFT_EYE, MOUTH, MOUTH_INNER,
                                  MOUTH_OUTER, NOSE, RIGHT_BROW, RIGHT_EYE, STABLE, eye_centres)
from au_jax.face.transforms import (compose, estimate_affine, estimate_similarity, invert,
                                    transform_points, warp_image)
