"""One source of randomness: a tree of named :class:`numpy.random.SeedSequence` children.

Every consumer of random numbers (a firm's funding draws, its pricing rule, the customer
segments, a Q-learning session, a heatmap cell of an experiment) asks the tree for a child by a
stable name.  A child's entropy is the root seed; its ``spawn_key`` is the path of names from the
root, each name hashed with CRC-32:

.. math::

    \\text{child}(n_1, \\dots, n_k) = \\text{SeedSequence}(\\text{seed},
        \\text{spawn\\_key} = (\\text{crc32}(n_1), \\dots, \\text{crc32}(n_k)))

so the same path always gets the same stream whatever else is drawn, adding a firm does not
reshuffle the others, and two different paths never share a stream (SeedSequence mixes the whole
spawn key).  Integer names (session ``k`` of a batch) are used as they are.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["SeedTree"]


def _key(name: str | int) -> int:
    if isinstance(name, (int, np.integer)):
        if name < 0:
            raise ValueError(f"seed-tree index {name}: must be >= 0")
        return int(name)
    return zlib.crc32(str(name).encode("utf-8"))


class SeedTree:
    """Named, independent random streams derived from one seed.

    >>> tree = SeedTree(0)
    >>> a = tree.generator("segments").random()
    >>> b = SeedTree(0).child("firm:lab").generator("funding").random()
    """

    __slots__ = ("seed", "path")

    def __init__(self, seed: int, path: tuple[int, ...] = ()):
        self.seed = int(seed)
        self.path = tuple(path)

    def child(self, name: str | int) -> SeedTree:
        """The subtree under ``name``."""
        return SeedTree(self.seed, self.path + (_key(name),))

    def sequence(self, name: str | int | None = None) -> np.random.SeedSequence:
        """The SeedSequence of this node (or of its child ``name``)."""
        path = self.path if name is None else self.path + (_key(name),)
        return np.random.SeedSequence(self.seed, spawn_key=path)

    def generator(self, name: str | int | None = None) -> np.random.Generator:
        """``Generator(PCG64(sequence(name)))``: the stream of this node or of child ``name``."""
        return np.random.Generator(np.random.PCG64(self.sequence(name)))

    def integers(self, name: str | int, n: int) -> np.ndarray:
        """``n`` 64-bit seeds for compiled kernels: the first ``uint64`` word of each of the
        children ``0 .. n-1`` of child ``name`` (one per session, independent of ``n``)."""
        node = self.child(name)
        return np.array([node.sequence(k).generate_state(1, np.uint64)[0] for k in range(n)],
                        dtype=np.uint64)

    def __repr__(self) -> str:
        return f"SeedTree({self.seed}, path={self.path})"
