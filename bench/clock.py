"""Reading the fake provider's ``clock`` model: tokens that are their own send times.

The provider (tests/fakes/llm_server.py, model ``clock``) streams ``r<received> t<sent>`` then
`` t<sent>`` per token, from ``time.monotonic()``, which every process on one Linux machine
shares. A client that notes ``time.monotonic()`` when each token reaches it can then split any
delay into the provider's part and ours, token by token, whatever the load on the provider.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

_STAMP = re.compile(r"([rt])(\d+\.\d+)")


@dataclass
class TokenClock:
    """The provider's stamps seen in a stream, and when each token reached us."""

    received: float | None = None  # the provider got the request
    sent: list[float] = field(default_factory=list)  # the provider sent token k
    arrived: list[float] = field(default_factory=list)  # token k reached our client

    def feed(self, text: str, now: float) -> None:
        """Take one streamed piece of text (it may carry several tokens) seen at ``now``."""
        for kind, value in _STAMP.findall(text):
            if kind == "r":
                self.received = float(value)
            else:
                self.sent.append(float(value))
                self.arrived.append(now)

    def added_ttft_ms(self, started: float, first_out: float) -> float:
        """Our time to first token minus the provider's own (request in to first token out)."""
        assert self.received is not None and self.sent, "not a clock stream"
        return ((first_out - started) - (self.sent[0] - self.received)) * 1000

    def added_gaps_ms(self) -> list[float]:
        """For each token after the first: its gap at our client minus its gap at the provider."""
        lag = [a - s for a, s in zip(self.arrived, self.sent, strict=True)]
        return [(b - a) * 1000 for a, b in itertools.pairwise(lag)]

    def lags_ms(self) -> list[float]:
        """For each token: provider send to arrival at our client."""
        return [(a - s) * 1000 for a, s in zip(self.arrived, self.sent, strict=True)]
