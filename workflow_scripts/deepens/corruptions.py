"""Dataset-shift test sets: six CIFAR-10-C corruptions, regenerated deterministically.

Fort et al. evaluate ensembles under the corruptions of Hendrycks & Dietterich (2019),
"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations". This
module re-implements six of them in numpy/scipy/matplotlib (no OpenCV, no scikit-image,
no TensorFlow) so the same shift can be applied to any uint8 NHWC test set (CIFAR-10's
32x32x3 as well as the 8x8x1 digits of the tiny configuration), seeded per run.

Source of the formulas and constants: ``ImageNet-C/create_c/make_cifar_c.py`` in
github.com/hendrycks/robustness (commit ca360085d57889288c4143fddd8a707bbcae01bd), the
script that produced CIFAR-10-C. Severity s uses element s-1 of each list; every formula
works on x = image / 255 in [0, 1]:

=============== ============================================= =====================================
name            constants (severity 1..5)                     formula
=============== ============================================= =====================================
gaussian_noise  c = [0.04, 0.06, .08, .09, .10]               x + N(0, c^2), per element
shot_noise      c = [500, 250, 100, 75, 50]                   Poisson(x * c) / c
impulse_noise   c = [.01, .02, .03, .05, .07]                 skimage random_noise(mode='s&p',
                                                              amount=c): each element independently
                                                              with prob. c set to 1 or 0 (50/50)
contrast        c = [.75, .5, .4, .3, 0.15]                   (x - m) * c + m, m = mean over (H, W)
                                                              per image and channel
brightness      c = [.05, .1, .15, .2, .3]                    HSV: V <- clip(V + c, 0, 1)
defocus_blur    c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6),      filter2D(x, disk(radius, alias_blur))
                     (1, 0.2), (1.5, 0.1)]  (radius, alias)   per channel, border reflect-101
=============== ============================================= =====================================

then ``np.clip(., 0, 1) * 255`` and, as the official loop stores ``np.uint8(corruption(img))``,
a conversion to uint8 that TRUNCATES (floor for values in [0, 255]); we do the same. So
values a rounding error below an integer drop a grey level: contrast maps a constant image
of value 1 to 0 at every severity (its float mean lands a rounding error low), exactly as the
official code does. (scikit-image's ``random_noise`` source, skimage/util/noise.py, was also
read for the s&p semantics: ``flipped = bernoulli(amount)``, ``salted = bernoulli(0.5)``,
salt -> 1, pepper -> 0 for a non-negative image.)

``disk(radius, alias_blur)`` (radius <= 8 branch, the only one these constants reach): an
aliased disk ``X**2 + Y**2 <= radius**2`` on ``L = arange(-8, 9)`` in float32, divided by its
sum, then ``cv2.GaussianBlur(ksize=(3, 3), sigmaX=alias_blur)``.

Deviations from the official code (all deliberate):

* Randomness comes from ``np.random.default_rng(derive_seed(seed, "shift",
  CORRUPTION_KEYS[name], severity))`` rather than the global ``np.random`` state, so the
  noise differs sample-by-sample from the published CIFAR-10-C files while following the
  same distribution. Use :func:`load_cifar10c` for the published files themselves.
* Impulse noise draws one uniform u per element: salt if u < c/2, pepper if c/2 <= u < c.
  That is the same joint law as skimage's two Bernoulli draws with one draw instead of two,
  and keeps the output of ``images[:n]`` equal to the first n outputs for ``images``.
* Brightness uses matplotlib's rgb_to_hsv/hsv_to_rgb instead of skimage.color's (same
  formulas up to float rounding). Single-channel images have V = grey value (S = 0), so
  for C = 1 the corruption is ``clip(x + c, 0, 1)``, exactly what the HSV round trip gives
  for a grey RGB image.
* cv2.GaussianBlur on the 17x17 disk is reimplemented as a separable 3-tap correlation with
  cv2.getGaussianKernel's weights ``exp(-t**2 / (2 sigma**2)), t in (-1, 0, 1)``, normalised,
  border reflect-101 (scipy ``mode='mirror'``); cv2.filter2D as scipy.ndimage.correlate
  (mode 'mirror' = BORDER_REFLECT_101). The all-zero border of the 17x17 kernel is cropped
  (zero weights contribute nothing, the kernel stays centred) so 8x8 images work.
  Checked once, outside the test suite, against opencv-python-headless 5.0.0 and
  scikit-image 0.26.0 running the official functions: defocus_blur, contrast and brightness
  gave byte-identical uint8 output at all five severities on 255 CIFAR-sized images (smooth,
  flat and uniform-noise) and defocus_blur on 500 8x8 digits; the kernels agree to float32
  round-off. The kernel inherits float32 normalisation, so it sums to 1 only within ~1e-7.
  Impulse noise matched skimage's salt/pepper frequencies within sampling error.
* ``np.asarray(PIL image) / 255`` in the official loop is the same float64 x as here: the
  torchvision ToTensor/ToPILImage round trip it applies first is lossless for uint8.
"""
from __future__ import annotations

import numbers

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from scipy import ndimage

from .seeds import derive_seed

CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "contrast", "brightness", "defocus_blur")
SEVERITIES = (1, 2, 3, 4, 5)
# Seed sub-keys: stable forever. Append new corruptions with new numbers; never renumber.
CORRUPTION_KEYS = {
    "gaussian_noise": 1,
    "shot_noise": 2,
    "impulse_noise": 3,
    "contrast": 4,
    "brightness": 5,
    "defocus_blur": 6,
}

# make_cifar_c.py constants, indexed by severity - 1.
PARAMS = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
}


# Images processed at a time: bounds the float64 temporaries (~25 MB per 1000 CIFAR images
# and array). The random stream is consumed in order, so chunking does not change results.
_CHUNK = 1000


# --- validation ------------------------------------------------------------------------

def _check_name(name) -> str:
    if not isinstance(name, str) or name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; expected one of {CORRUPTIONS}")
    return name


def _check_severity(severity) -> int:
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral) or int(severity) not in SEVERITIES:
        raise ValueError(f"corruption severity must be one of {SEVERITIES}, got {severity!r}")
    return int(severity)


def _check_images(images) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        dtype = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images must be a uint8 numpy array (NHWC), got {dtype}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or min(images.shape[1:3], default=0) < 1:
        raise ValueError(f"images must be NHWC with H, W >= 1 and C = 1 or 3, got shape {images.shape}")
    return images


# --- the defocus kernel ----------------------------------------------------------------

def gaussian_taps(sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel(3, sigma) for sigma > 0: exp(-t^2 / (2 sigma^2)), t = -1, 0, 1, summing to 1."""
    t = np.arange(-1.0, 2.0)
    g = np.exp(-0.5 / (sigma * sigma) * t * t)
    return g / g.sum()


def disk(radius: float, alias_blur: float) -> np.ndarray:
    """The official ``disk`` (radius <= 8 branch) with its all-zero border cropped.

    Aliased float32 disk on ``arange(-8, 9)``, normalised, then a 3x3 Gaussian blur with
    sigma ``alias_blur`` (border reflect-101, float32 like cv2 on a float32 image). Returns
    a centred, odd-sized float64 kernel.
    """
    if not 0 <= radius <= 8:
        raise ValueError(f"disk radius must be in [0, 8] (the CIFAR branch of make_cifar_c.disk), got {radius}")
    if not alias_blur > 0:
        raise ValueError(f"alias_blur must be > 0, got {alias_blur}")
    L = np.arange(-8, 8 + 1)
    X, Y = np.meshgrid(L, L)
    aliased = np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=np.float32)
    aliased /= np.sum(aliased)
    g = gaussian_taps(alias_blur).astype(np.float32)
    k = ndimage.correlate1d(aliased, g, axis=1, mode="mirror")
    k = ndimage.correlate1d(k, g, axis=0, mode="mirror").astype(np.float64)
    nz = np.argwhere(k != 0)
    r = int(np.abs(nz - 8).max()) if len(nz) else 0
    return k[8 - r:8 + r + 1, 8 - r:8 + r + 1]


# --- the corruptions on float batches in [0, 1] -----------------------------------------

def _gaussian_noise(x, c, rng):
    return x + rng.normal(0.0, c, size=x.shape)


def _shot_noise(x, c, rng):
    return rng.poisson(x * c) / c


def _impulse_noise(x, c, rng):
    u = rng.random(x.shape)
    out = x.copy()
    out[u < c] = 0.0             # pepper ...
    out[u < 0.5 * c] = 1.0       # ... except the first half: salt (salt_vs_pepper = 0.5)
    return out


def _contrast(x, c, rng):
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def _brightness(x, c, rng):
    if x.shape[-1] == 1:
        return np.clip(x + c, 0, 1)
    hsv = rgb_to_hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return hsv_to_rgb(hsv)


def _defocus_blur(x, c, rng):
    kernel = disk(radius=c[0], alias_blur=c[1])
    return ndimage.correlate(x, kernel[None, :, :, None], mode="mirror")


_FUNCS = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "contrast": _contrast,
    "brightness": _brightness,
    "defocus_blur": _defocus_blur,
}
assert set(_FUNCS) == set(CORRUPTIONS) == set(CORRUPTION_KEYS) == set(PARAMS)
assert len(set(CORRUPTION_KEYS.values())) == len(CORRUPTION_KEYS)


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt a uint8 NHWC batch (C = 1 or 3, any H, W) with `name` at `severity` (1..5).

    Returns a new uint8 array of the same shape, ``np.uint8(clip(f(images / 255), 0, 1) * 255)``
    (truncating, as make_cifar_c.py). Deterministic in (images, name, severity, seed); the
    random stream is ``default_rng(derive_seed(seed, "shift", CORRUPTION_KEYS[name], severity))``,
    consumed image by image, so ``corrupt(images[:n], ...)`` equals ``corrupt(images, ...)[:n]``.
    """
    name, severity, images = _check_name(name), _check_severity(severity), _check_images(images)
    c = PARAMS[name][severity - 1]
    func = _FUNCS[name]
    rng = np.random.default_rng(derive_seed(seed, "shift", CORRUPTION_KEYS[name], severity))
    out = np.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        x = images[start:start + _CHUNK].astype(np.float64) / 255.0
        y = np.clip(func(x, c, rng), 0.0, 1.0) * 255.0
        out[start:start + _CHUNK] = y.astype(np.uint8)  # truncation, as np.uint8() in the official loop
    return out


def corrupted_sets(images: np.ndarray, names, seed: int, severities=SEVERITIES) -> dict[str, np.ndarray]:
    """{name: uint8 array (len(severities), N, H, W, C)} of `images` under each corruption."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        _check_name(name)
    severities = tuple(_check_severity(s) for s in severities)
    if not severities:
        raise ValueError(f"severities must name at least one of {SEVERITIES}")
    _check_images(images)
    return {name: np.stack([corrupt(images, name, s, seed) for s in severities]) for name in names}


# --- the published CIFAR-10-C files -----------------------------------------------------


