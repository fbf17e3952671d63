"""deepens.corruptions: CIFAR-10-C style dataset shift, regenerated; and the published files."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from deepens import cifar10c
from deepens import corruptions as C
from deepens.io import ArtifactError
from deepens.seeds import PURPOSES, derive_seed
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("gaussian_noise", "shot_noise", "impulse_noise")
DETERMINISTIC = ("contrast", "brightness", "defocus_blur")


def smooth_images(n, hw, c, seed=0):
    """Textured, mostly unsaturated images: uniform noise blurred at sigma 1, contrast-stretched.

    Why damage grows strictly with severity on these: the texture sits at the 1-2 pixel scale
    the defocus kernels act on (a flat image would hide the blur); only ~7% of values sit at
    0 or 255, so clipping neither absorbs the noise nor saturates brightness; the per-channel
    means are near 128 with a spread of ~77 grey levels, so lowering contrast always moves
    pixels. Enough elements (>= 8192) make the noise severities' averages stable.
    """
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.uniform(0, 255, (n, hw, hw, c)), sigma=(0, 1, 1, 0))
    return np.clip((base - base.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def const(value, shape=(4, 32, 32, 3)):
    return np.broadcast_to(np.asarray(value, np.uint8), shape).copy()


def assert_truncated(out, exact):
    """out == floor(exact) (the official np.uint8 truncation); at exact integers floor may be 1 lower."""
    exact = np.broadcast_to(np.asarray(exact, np.float64), out.shape)
    near = np.abs(exact - np.round(exact)) < 1e-6
    floor = np.floor(exact)
    assert np.array_equal(out[~near], floor[~near])
    assert np.all((out[near] == np.round(exact[near])) | (out[near] == np.round(exact[near]) - 1))


# --- API and constants -----------------------------------------------------------------

def test_api_constants_match_make_cifar_c():
    assert C.CORRUPTIONS == ("gaussian_noise", "shot_noise", "impulse_noise", "contrast", "brightness", "defocus_blur")
    assert C.SEVERITIES == (1, 2, 3, 4, 5)
    # seed sub-keys are frozen: renumbering would silently change every shifted test set
    assert C.CORRUPTION_KEYS == {"gaussian_noise": 1, "shot_noise": 2, "impulse_noise": 3,
                                 "contrast": 4, "brightness": 5, "defocus_blur": 6}
    # hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py
    assert C.PARAMS == {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    }
    assert "shift" in PURPOSES


def test_random_stream_is_derive_seed_shift():
    images = smooth_images(3, 8, 1)
    rng = np.random.default_rng(derive_seed(7, "shift", C.CORRUPTION_KEYS["gaussian_noise"], 3))
    expected = np.clip(images / 255.0 + rng.normal(0.0, 0.08, images.shape), 0, 1) * 255
    assert np.array_equal(C.corrupt(images, "gaussian_noise", 3, seed=7), expected.astype(np.uint8))


# --- determinism, shapes ---------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 8, 8, 1), (3, 32, 32, 3)])
@pytest.mark.parametrize("name", C.CORRUPTIONS)
def test_deterministic_dtype_shape(name, shape):
    images = smooth_images(*shape[:2], shape[3])
    before = images.copy()
    a = C.corrupt(images, name, 3, seed=11)
    assert a.dtype == np.uint8 and a.shape == images.shape
    assert np.array_equal(images, before)  # input untouched
    assert a.tobytes() == C.corrupt(images, name, 3, seed=11).tobytes()
    assert not np.array_equal(a, images)
    other = C.corrupt(images, name, 3, seed=12)
    if name in NOISE:
        assert not np.array_equal(a, other)
        assert not np.array_equal(a, C.corrupt(images, name, 4, seed=11))
    else:
        assert np.array_equal(a, other)


@pytest.mark.parametrize("name", NOISE)
def test_chunking_and_prefix_do_not_change_results(name, monkeypatch):
    images = smooth_images(7, 8, 3)
    whole = C.corrupt(images, name, 5, seed=3)
    assert np.array_equal(C.corrupt(images[:4], name, 5, seed=3), whole[:4])
    monkeypatch.setattr(C, "_CHUNK", 2)
    assert np.array_equal(C.corrupt(images, name, 5, seed=3), whole)


@pytest.mark.parametrize("shape", [(16, 32, 32, 3), (128, 8, 8, 1)])
def test_damage_strictly_increases_with_severity(shape):
    images = smooth_images(shape[0], shape[1], shape[3])
    for name in C.CORRUPTIONS:
        damage = [np.abs(C.corrupt(images, name, s, seed=0).astype(float) - images).mean() for s in C.SEVERITIES]
        assert np.all(np.diff(damage) > 0), (name, damage)


def test_corrupted_sets():
    images = smooth_images(4, 8, 1)
    sets = C.corrupted_sets(images, ["contrast", "shot_noise"], seed=5)
    assert set(sets) == {"contrast", "shot_noise"}
    for name, arr in sets.items():
        assert arr.dtype == np.uint8 and arr.shape == (5, 4, 8, 8, 1)
        for k, s in enumerate(C.SEVERITIES):
            assert np.array_equal(arr[k], C.corrupt(images, name, s, seed=5))
    two = C.corrupted_sets(images, ("impulse_noise",), seed=5, severities=(2, 5))
    assert two["impulse_noise"].shape == (2, 4, 8, 8, 1)
    assert np.array_equal(two["impulse_noise"][1], C.corrupt(images, "impulse_noise", 5, seed=5))
    with pytest.raises(ValueError, match="fog"):
        C.corrupted_sets(images, ["contrast", "fog"], seed=5)
    with pytest.raises(ValueError, match="severity"):
        C.corrupted_sets(images, ["contrast"], seed=5, severities=(1, 6))


# --- known answers ---------------------------------------------------------------------

def test_contrast_closed_form():
    # half the pixels 41, half 200: mean 120.5, so a -> 120.5 + (a - 120.5) c, never an integer
    # here, and np.uint8 truncates (60.875 -> 60, where rounding would give 61)
    images = const(41, (2, 8, 8, 3))
    images[:, :, 4:] = 200
    images[1, ..., 1] = 90  # channel 1 of image 1 is constant: its own mean, so unchanged
    for s, c in zip(C.SEVERITIES, C.PARAMS["contrast"]):
        out = C.corrupt(images, "contrast", s, seed=0)
        exact = 120.5 + (images.astype(float) - 120.5) * c
        exact[1, ..., 1] = 90
        assert_truncated(out, exact)


def test_contrast_matches_official_per_image_formula():
    """make_cifar_c.contrast on one HWC image at a time (mean over axes 0, 1), byte for byte."""
    rng = np.random.default_rng(4)
    images = np.concatenate([rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
                             np.stack([const(v, (8, 8, 3)) for v in (1, 9, 128, 254)])])
    for s, c in zip(C.SEVERITIES, C.PARAMS["contrast"]):
        ref = []
        for img in images:
            x = np.array(img) / 255.0
            means = np.mean(x, axis=(0, 1), keepdims=True)
            ref.append(np.uint8(np.clip((x - means) * c + means, 0, 1) * 255))
        assert np.array_equal(C.corrupt(images, "contrast", s, seed=0), np.array(ref))


def test_brightness_closed_form():
    # a constant colour keeps hue and saturation: every channel scales by (V + c) / V,
    # V = max channel, with V + c clipped to 1
    images = np.concatenate([const((200, 100, 50), (1, 4, 4, 3)), const((30, 30, 30), (1, 4, 4, 3)),
                             const((240, 0, 120), (1, 4, 4, 3))])
    for s, c in zip(C.SEVERITIES, C.PARAMS["brightness"]):
        out = C.corrupt(images, "brightness", s, seed=0)
        v = images.max(axis=-1, keepdims=True) / 255.0
        assert_truncated(out, images * (np.minimum(v + c, 1.0) / v))
        grey = C.corrupt(const(30, (1, 4, 4, 1)), "brightness", s, seed=0)
        assert_truncated(grey, min(30 + 255 * c, 255.0))


def test_brightness_grey_single_channel_equals_grey_rgb():
    grey = smooth_images(4, 8, 1)
    for s in C.SEVERITIES:
        one = C.corrupt(grey, "brightness", s, seed=0)
        three = C.corrupt(np.repeat(grey, 3, axis=-1), "brightness", s, seed=0)
        assert np.array_equal(np.repeat(one, 3, axis=-1), three)


def test_defocus_kernels():
    for s, (radius, alias) in zip(C.SEVERITIES, C.PARAMS["defocus_blur"]):
        k = C.disk(radius, alias)
        assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert k.sum() == pytest.approx(1.0, abs=1e-6)
        assert np.allclose(k, k.T) and np.allclose(k, k[::-1]) and np.allclose(k, k[:, ::-1])
        assert k[k.shape[0] // 2, k.shape[1] // 2] == k.max() and np.all(k >= 0)  # centred
        assert k.shape == ((3, 3) if s <= 3 else (5, 5))  # disk of one pixel, then radius 1 and 1.5
    # radius < 1: the disk is one pixel, so the kernel is the 3-tap Gaussian's outer product
    t = np.exp(-np.arange(-1, 2) ** 2 / (2 * 0.4 ** 2))
    g = t / t.sum()
    assert np.allclose(C.disk(0.3, 0.4), np.outer(g, g), atol=1e-7)
    # radius 1.5, tiny alias blur: essentially the 3x3 box, 1/9 each
    assert np.allclose(C.disk(1.5, 0.1)[1:4, 1:4], 1 / 9, atol=1e-6)


def test_defocus_applies_the_kernel_as_a_correlation():
    point = np.zeros((1, 9, 9, 1), np.uint8)
    point[0, 4, 4] = 255
    for s, (radius, alias) in zip(C.SEVERITIES, C.PARAMS["defocus_blur"]):
        k = C.disk(radius, alias)
        r = k.shape[0] // 2
        expected = np.zeros((9, 9))
        expected[4 - r:5 + r, 4 - r:5 + r] = k[::-1, ::-1] * 255  # point response of a correlation
        assert_truncated(C.corrupt(point, "defocus_blur", s, seed=0)[0, ..., 0], expected)
        # flat images stay flat (kernel sums to 1, reflect-101 border)
        assert np.array_equal(C.corrupt(const(77, (1, 8, 8, 3)), "defocus_blur", s, seed=0), const(77, (1, 8, 8, 3)))
    # reflect-101 border: a corner pixel's neighbours mirror inwards without repeating the edge
    img = np.zeros((1, 4, 4, 1), np.uint8)
    img[0, 1, 1] = 255
    k = C.disk(1.5, 0.1)
    out = C.corrupt(img, "defocus_blur", 5, seed=0)[0, ..., 0]
    # (0, 0) sees (1, 1) directly, and via the mirror (-1,-1)->(1,1), (-1,1)->(1,1), (1,-1)->(1,1)
    assert out[0, 0] == np.floor(255 * (k[3, 3] + k[1, 1] + k[1, 3] + k[3, 1]))


def test_impulse_noise_changes_about_amount():
    grey = const(128, (64, 32, 32, 3))  # 196608 elements: binomial sd < 0.0006
    for s, amount in zip(C.SEVERITIES, C.PARAMS["impulse_noise"]):
        out = C.corrupt(grey, "impulse_noise", s, seed=1)
        assert set(np.unique(out)) <= {0, 128, 255}
        salt, pepper = (out == 255).mean(), (out == 0).mean()
        assert salt + pepper == pytest.approx(amount, abs=0.003)
        assert salt == pytest.approx(amount / 2, abs=0.002) and pepper == pytest.approx(amount / 2, abs=0.002)
        # elements, not pixels: channels are hit independently
        assert np.any((out[..., 0] != 128) & (out[..., 1] == 128))


def test_gaussian_noise_statistics():
    grey = const(128, (64, 32, 32, 3))
    for s, c in zip(C.SEVERITIES, C.PARAMS["gaussian_noise"]):
        out = C.corrupt(grey, "gaussian_noise", s, seed=2).astype(float)
        assert out.std() == pytest.approx(c * 255, rel=0.02)
        assert out.mean() == pytest.approx(127.5, abs=0.25)  # truncation lowers the mean by 1/2


def test_shot_noise_mean_preserving():
    grey = const(128, (64, 32, 32, 3))
    for s, c in zip(C.SEVERITIES, C.PARAMS["shot_noise"]):
        out = C.corrupt(grey, "shot_noise", s, seed=3).astype(float)
        assert out.mean() == pytest.approx(128, abs=1.0)  # Poisson(x c) / c has mean x; truncation < 1
        assert out.std() == pytest.approx(np.sqrt(128 / 255 / c) * 255, rel=0.03)


# --- errors ----------------------------------------------------------------------------

def test_bad_arguments_raise():
    images = smooth_images(2, 8, 1)
    for severity in (0, 6, -1, 2.0, True, "3"):
        with pytest.raises(ValueError, match=r"severity.*\(1, 2, 3, 4, 5\)"):
            C.corrupt(images, "contrast", severity, seed=0)
    for name in ("fog", "Contrast", "", None):
        with pytest.raises(ValueError, match="unknown corruption.*gaussian_noise.*defocus_blur"):
            C.corrupt(images, name, 1, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        C.corrupt(images.astype(np.float32), "contrast", 1, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        C.corrupt(images.tolist(), "contrast", 1, seed=0)
    for bad in (images[..., 0], np.repeat(images, 2, axis=-1), images[None]):
        with pytest.raises(ValueError, match="NHWC"):
            C.corrupt(bad, "contrast", 1, seed=0)


def test_module_needs_no_tensorflow():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "tf_blocker"),
                                                        str(ROOT / "workflow_scripts")])}
    subprocess.run([sys.executable, "-c", "import deepens.corruptions"], env=env, check=True, timeout=120)


# --- the published CIFAR-10-C files ----------------------------------------------------

M = 6  # images per severity in the fake release (the real one has 10000)


@pytest.fixture
def fake_cifar10c(tmp_path):
    """A miniature release: image k * M + i is filled with 10 k + i; labels repeat per severity."""
    images = np.zeros((5 * M, 32, 32, 3), np.uint8)
    for k in range(5):
        for i in range(M):
            images[k * M + i] = 10 * k + i
    labels = np.tile((np.arange(M) * 3) % 10, 5).astype(np.uint8)
    np.save(tmp_path / "contrast.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    return tmp_path


def test_load_cifar10c_slices_severity_major(fake_cifar10c):
    images, labels = cifar10c.load_cifar10c(fake_cifar10c, "contrast", 4)
    assert images.dtype == np.uint8 and images.shape == (5, 4, 32, 32, 3)
    assert labels.shape == (5, 4) and labels.dtype == np.int64
    for k in range(5):
        for i in range(4):
            assert np.all(images[k, i] == 10 * k + i)
    y_test = (np.arange(4) * 3) % 10
    assert np.array_equal(labels, np.tile(y_test, (5, 1)))
    cifar10c.check_cifar10c_labels(labels, y_test)
    full, _ = cifar10c.load_cifar10c(fake_cifar10c, "contrast", M)
    assert full.shape == (5, M, 32, 32, 3) and np.all(full[4, M - 1] == 10 * 4 + M - 1)


def test_check_cifar10c_labels_rejects_mismatch(fake_cifar10c):
    _, labels = cifar10c.load_cifar10c(fake_cifar10c, "contrast", 4)
    y_test = (np.arange(4) * 3) % 10
    bad = labels.copy()
    bad[2, 1] += 1
    with pytest.raises(ArtifactError, match="severity 3"):
        cifar10c.check_cifar10c_labels(bad, y_test)
    with pytest.raises(ArtifactError):
        cifar10c.check_cifar10c_labels(labels, y_test[:3])


def test_load_cifar10c_missing_and_malformed(fake_cifar10c):
    with pytest.raises(ArtifactError, match="brightness.npy"):
        cifar10c.load_cifar10c(fake_cifar10c, "brightness", 4)
    for bad in (np.zeros((5 * M, 32, 32, 1), np.uint8), np.zeros((5 * M, 32, 32, 3), np.float32),
                np.zeros((5 * M + 1, 32, 32, 3), np.uint8), np.zeros((5 * M, 32, 32), np.uint8)):
        np.save(fake_cifar10c / "shot_noise.npy", bad)
        with pytest.raises(ArtifactError, match="shot_noise.npy"):
            cifar10c.load_cifar10c(fake_cifar10c, "shot_noise", 4)
    (fake_cifar10c / "fog.npy").write_bytes(b"not a numpy file")
    with pytest.raises(ArtifactError, match="fog.npy"):
        cifar10c.load_cifar10c(fake_cifar10c, "fog", 4)
    np.save(fake_cifar10c / "snow.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ArtifactError, match="snow.npy"):
        cifar10c.load_cifar10c(fake_cifar10c, "snow", 4)
    with pytest.raises(ArtifactError, match="contrast.npy.*6 images per severity"):
        cifar10c.load_cifar10c(fake_cifar10c, "contrast", M + 1)
    np.save(fake_cifar10c / "labels.npy", np.zeros(5 * M - 1, np.uint8))
    with pytest.raises(ArtifactError, match="labels.npy"):
        cifar10c.load_cifar10c(fake_cifar10c, "contrast", 4)
    (fake_cifar10c / "labels.npy").unlink()
    with pytest.raises(ArtifactError, match="labels.npy"):
        cifar10c.load_cifar10c(fake_cifar10c, "contrast", 4)
    with pytest.raises(ValueError, match="unknown CIFAR-10-C corruption"):
        cifar10c.load_cifar10c(fake_cifar10c, "../contrast", 4)
    with pytest.raises(ValueError, match="n_test"):
        cifar10c.load_cifar10c(fake_cifar10c, "contrast", 0)
