"""Seeds split by purpose from one run seed.

Each purpose (initialisation, data order, augmentation, dropout, subspace sampling, ...)
gets its own independent stream, derived from the run seed and the purpose's *name*, so
adding a purpose never shifts the others and changing one never correlates with another.
"""
import hashlib

import numpy as np

PURPOSES = ("init", "shuffle", "augment", "dropout", "split", "subspace", "shift", "bias", "bootstrap")


def derive_seed(run_seed: int, purpose: str, *keys: int) -> int:
    """A 31-bit seed for `purpose` (and optional integer sub-keys, e.g. a layer index)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown seed purpose {purpose!r}; expected one of {PURPOSES}")
    tag = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "little")
    # spawn_key, not extra entropy words: SeedSequence zero-pads entropy, so a trailing 0 key
    # would collide with no key at all.
    state = np.random.SeedSequence([int(run_seed), tag], spawn_key=tuple(map(int, keys))).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)
