"""What an error message may quote of the input: a prefix of each value."""

from __future__ import annotations

from barecloud.errors import MAX_MESSAGE, QUOTE_LIMIT, clip, prefix, quote


def test_a_long_value_is_quoted_by_its_prefix() -> None:
    assert prefix("x" * 1000) == "x" * QUOTE_LIMIT + "..."
    assert prefix("short") == "short"
    assert quote("y" * 1000) == "'" + "y" * (QUOTE_LIMIT - 1) + "..."
    assert prefix(12345) == "12345"


def test_clip_bounds_any_message() -> None:
    # A run of input with no blanks is cut to a prefix; the words around stay.
    assert clip(f"Invalid name {'z' * 100_000}. It is too long") == (
        f"Invalid name {'z' * QUOTE_LIMIT}... It is too long")
    # Input with blanks is bounded by the message's length.
    assert len(clip("a b " * 100_000)) == MAX_MESSAGE
    message = "Node 1be26c0b-03f2-4d2c-ae87-c02d7a1d7a5e could not be found."
    assert clip(message) == message
    assert clip(clip("q" * 500)) == clip("q" * 500)
