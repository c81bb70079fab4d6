"""The breeding's random draws, bit for bit those of a ``RandomState``, at a fraction of the cost.

Breeding a generation asks numpy's legacy ``RandomState`` for tens of thousands of single numbers
(a tournament's contenders, an operator, a crossover point, every node of a grown subtree), and
each call costs about a microsecond of numpy's argument handling for a few nanoseconds of
Mersenne Twister. ``BufferedDraws`` takes the generator's raw 32-bit words a block at a time and
turns them into the same numbers the ``RandomState`` would have given, with the same algorithms
(integers in a range by masked rejection, doubles from two words, normals by the polar method
with its cached second value), so a search gives the same programs as before for the same seed.
``release`` leaves the ``RandomState`` exactly where the same calls made on it would have.

Any other method (``choice``, ``permutation`` ...) releases first and is passed to the
``RandomState`` itself, so the stand-in can be handed to code that was written for one.
"""

from __future__ import annotations

import math

import numpy as np

_WORD_RANGE = 2**32
_DOUBLE_SCALE = 1.0 / 9007199254740992.0  # 2**-53


class BufferedDraws:
    """Stands in for ``rng`` (a legacy ``np.random.RandomState``) until ``release``."""

    def __init__(self, rng: np.random.RandomState, block: int = 4096):
        self.rng = rng
        self.block = block
        self._start: tuple | None = None  # the rng's state when buffering began; None: not buffering
        self._words: list[int] = []
        self._next = 0  # index of the next unused word in _words
        self._taken = 0  # words drawn from the rng into _words since _start
        self._gauss: float | None = None  # the polar method's second value, as the rng caches it

    # ----------------------------------------------------------------------------- the rng's methods

    def randint(self, low: int, high: int | None = None, size: int | None = None):
        """An integer in [low, high) (or [0, low)), or an int64 array of ``size`` of them."""
        if high is None:
            low, high = 0, low
        span = high - 1 - low
        if span < 0 or span >= _WORD_RANGE - 1 or (size is not None and not isinstance(size, int)):
            return self._delegate("randint")(low, high, size)
        if size is None:
            return low + self._bounded(span)
        return low + np.array(self.integers(span + 1, size), dtype=np.int64)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int | None = None):
        """A double in [low, high) (or an array of ``size``), as ``RandomState.uniform``."""
        if size is not None and not isinstance(size, int):
            return self._delegate("uniform")(low, high, size)
        width = float(high) - float(low)
        if size is None:
            return float(low) + width * self._double()
        return np.array([float(low) + width * self._double() for _ in range(size)])

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: int | None = None):
        """A normal draw, as the legacy ``RandomState.normal`` (polar method, second value cached)."""
        if size is not None:
            return self._delegate("normal")(loc, scale, size)
        return float(loc) + float(scale) * self._standard_gauss()

    def integers(self, high: int, size: int) -> list[int]:
        """``randint(0, high, size)`` as a list: the same numbers without building an array."""
        span = high - 1
        if span < 0 or span >= _WORD_RANGE - 1:
            return self._delegate("randint")(0, high, size).tolist()
        if span == 0:
            return [0] * size
        mask, out = (1 << span.bit_length()) - 1, []
        while len(out) < size:
            if self._next == len(self._words):
                self._fill()
            words, i = self._words, self._next
            while i < len(words) and len(out) < size:
                value = words[i] & mask
                i += 1
                if value <= span:
                    out.append(value)
            self._next = i
        return out

    def __getattr__(self, name: str):
        return self._delegate(name)

    def release(self) -> np.random.RandomState:
        """Put ``rng`` exactly where the draws taken so far would have left it, and return it."""
        if self._start is not None:
            name, keys, pos, _, _ = self._start
            cached = self._gauss is not None
            self.rng.set_state((name, keys, pos, int(cached), self._gauss if cached else 0.0))
            used = self._taken - (len(self._words) - self._next)
            if used:
                self.rng.randint(0, _WORD_RANGE, size=used, dtype=np.uint64)
            self._start, self._words, self._next, self._taken = None, [], 0, 0
        return self.rng

    # ----------------------------------------------------------------------------- the algorithms

    def _fill(self) -> None:
        """The next block of words; the first of a buffering records the state ``release`` returns to."""
        if self._start is None:
            self._start = self.rng.get_state()
            self._gauss = self._start[4] if self._start[3] else None
        self._words = self.rng.randint(0, _WORD_RANGE, size=self.block, dtype=np.uint64).tolist()
        self._next, self._taken = 0, self._taken + self.block

    def _word(self) -> int:
        if self._next == len(self._words):
            self._fill()
        word = self._words[self._next]
        self._next += 1
        return word

    def _bounded(self, span: int) -> int:
        """An integer in [0, span]: numpy's masked rejection on 32-bit words (none drawn for 0)."""
        if span == 0:
            return 0
        mask = (1 << span.bit_length()) - 1
        while True:
            value = self._word() & mask
            if value <= span:
                return value

    def _double(self) -> float:
        """A double in [0, 1) from two words (53 random bits), as numpy's legacy generator."""
        high, low = self._word() >> 5, self._word() >> 6
        return (high * 67108864.0 + low) * _DOUBLE_SCALE

    def _standard_gauss(self) -> float:
        if self._start is None:  # the cached value lives in the rng's state until buffering begins
            self._fill()
        if self._gauss is not None:
            value, self._gauss = self._gauss, None
            return value
        while True:
            x1, x2 = 2.0 * self._double() - 1.0, 2.0 * self._double() - 1.0
            r2 = x1 * x1 + x2 * x2
            if 0.0 < r2 < 1.0:
                break
        factor = math.sqrt(-2.0 * math.log(r2) / r2)
        self._gauss = factor * x1
        return factor * x2

    def _delegate(self, name: str):
        return getattr(self.release(), name)
