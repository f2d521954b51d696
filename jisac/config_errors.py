"""The one error type for bad configuration, raised before any compile or solve."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range.

    The message always names the dotted key, the offending value and the allowed range, e.g.
    ``scenario.p_t_dbm = nan: must be a finite number``.
    """

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key} = {value!r}: {allowed}")
