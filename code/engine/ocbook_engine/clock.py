"""One clock for every wait that the engine (or AWS) imposes, shortened by one factor.

``OCBOOK_TIME_SCALE`` (a number in (0, 1]) multiplies Lambda's asynchronous retry delays, EventBridge's
delivery back-off, stream retry back-off and scheduled-rule periods. 1 gives AWS's real delays. Waits
that the user wrote (Step Functions ``Wait``/``Retry`` intervals, SQS ``DelaySeconds``, visibility
timeouts) are never rescaled. See ARCHITECTURE.md, "One clock".
"""

from __future__ import annotations

import os

VARIABLE = "OCBOOK_TIME_SCALE"
DURABLE_VARIABLE = "OCBOOK_DURABLE_TIME_SCALE"
# One AWS minute lasts one second here: Lambda's ~1 min / ~2 min async retry waits become 1 s / 2 s.
DEFAULT_SCALE = 1 / 60


def scale(variable: str = VARIABLE) -> float:
    """The factor in force (from the environment, else the default); refuses values outside (0, 1]."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return DEFAULT_SCALE
    try:
        numerator, _, denominator = raw.partition("/")
        value = float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{variable}={raw!r} is not a number; use e.g. 1 (AWS's delays) or 0.0166 (1/60)") from exc
    if not 0 < value <= 1:
        raise ValueError(f"{variable}={raw!r} must be in (0, 1]: 1 gives AWS's real delays, smaller is faster")
    return value


def durable_scale() -> float:
    """The factor for durable functions' waits and step retry delays: 1 (the length the code wrote, as Step
    Functions' Wait and Retry run: ARCHITECTURE's "one clock"), unless OCBOOK_DURABLE_TIME_SCALE shortens them."""
    return scale(DURABLE_VARIABLE) if os.environ.get(DURABLE_VARIABLE, "").strip() else 1.0


def scaled(seconds: float) -> float:
    """An AWS waiting time as the engine waits it."""
    return seconds * scale()
