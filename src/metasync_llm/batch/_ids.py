"""The request ids a batch job has seen, kept in 10-20 bytes an id instead of ~100.

The job reads its input as it goes, but must remember every id to refuse duplicates
and, on ``--resume``, to skip the ids the output has: a ``set`` of the ids' strings grew
the job's peak memory from 26.3 MB at 10k lines to 46.7 MB at 200k (``nox -s bench --
--only batchmem``); this table keeps it within 1.2x. It stores each id's 64-bit hash
(``hash()``, keyed per process) in an ``array`` with open addressing. Two different ids
share a hash with a chance of about n²/2⁶⁵ (1 in 10⁹ for 200k ids), which would report
the second as a duplicate.
"""

from __future__ import annotations

from array import array

_MASK = (1 << 64) - 1
#: The share of slots in use before the table doubles: at 0.8 a miss probes ~13 slots
#: (~1 µs in all), and 200k ids fit 2 MB; at 0.5 they took 4 MB, plus 2 MB while growing.
_LOAD = 0.8


class IdSet:
    """A set of id keys (strings), membership and ``add`` only."""

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: str) -> bool:
        slots, h = self._slots, _hash(key)
        return slots[_slot(slots, h)] == h

    def add(self, key: str) -> None:
        if self._place(self._slots, _hash(key)):
            self._count += 1
            if self._count > _LOAD * len(self._slots):
                self._grow()

    @staticmethod
    def _place(slots: array[int], h: int) -> bool:
        """Put ``h`` in ``slots``; ``False`` if it was there already."""
        i = _slot(slots, h)
        if slots[i] == h:
            return False
        slots[i] = h
        return True

    def _grow(self) -> None:
        bigger = array("Q", bytes(16 * len(self._slots)))
        for h in self._slots:
            if h:
                self._place(bigger, h)
        self._slots = bigger


def _slot(slots: array[int], h: int) -> int:
    """Where ``h`` is in ``slots``, or the empty slot where it would go (linear probing)."""
    mask = len(slots) - 1
    i = h & mask
    while (held := slots[i]) != 0 and held != h:
        i = (i + 1) & mask
    return i


def _hash(key: str) -> int:
    return (hash(key) & _MASK) or 1  # 0 marks an empty slot
