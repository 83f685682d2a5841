"""Small-cell suppression (P4). Every count a coordinator receives passes through ``suppress``."""

from __future__ import annotations

DEFAULT_THRESHOLD = 11


def suppress(count: int, threshold: int = DEFAULT_THRESHOLD) -> int | str:
    """Exact from ``threshold`` up; below it (zero included) the words "fewer than N".

    Zero is suppressed too: "none match" next to "fewer than 11" for a slightly different query
    would tell the difference of one person.
    """
    if count >= threshold:
        return count
    return f"fewer than {threshold}"


def suppress_mapping(counts: dict[str, int], threshold: int = DEFAULT_THRESHOLD) -> dict[str, int | str]:
    return {key: suppress(value, threshold) for key, value in counts.items()}
