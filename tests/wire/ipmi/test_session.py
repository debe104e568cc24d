"""The session sequence window."""

from __future__ import annotations

from barecloud.wire.ipmi.session import SeqWindow


def test_sequence_window_rejects_replays() -> None:
    w = SeqWindow()
    assert not w.accept(0)
    assert [w.accept(n) for n in (1, 2, 5, 4, 4, 2)] == [True, True, True, True, False, False]
    assert w.accept(100) and not w.accept(60) and w.accept(90)
