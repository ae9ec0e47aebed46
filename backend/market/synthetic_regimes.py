"""The synthetic market's ``regimes`` profile: which signals pay, switching.

In the default profile a stock's idiosyncratic return is noise plus the push
of recent news, the same all the time. Under ``market.profile: regimes`` a
slow *style* regime, shared by every ticker and seeded by the market seed
alone, decides how returns follow their own past and the news:

- ``trend``: the idiosyncratic return continues the last ``AR_WINDOW`` days'
  mean move (momentum and moving-average trend pay, RSI misleads);
- ``reversal``: it reverts against it (RSI pays, momentum misleads);
- ``news``: returns ignore their past and follow the news strongly (tone pays).

A style lasts ``1 / (1 - STAY)`` trading days on average, so a run of a
year sees several. The chain and each ticker's autoregression are carried
chunk to chunk from the origin like the market factor's regimes, so a bar
still depends only on (seed, ticker, date).
"""

from __future__ import annotations

import numpy as np

STYLES = ("trend", "reversal", "news")
STAY = 0.985                              # daily probability of keeping the style
PHI = np.array([0.45, -0.45, 0.0])        # loading on the mean of the last AR_WINDOW idiosyncratic moves
KAPPA = np.array([0.1, 0.1, 0.9])         # how strongly the news moves the next sessions
AR_WINDOW = 10
_SEED_TAG = 0x57E1


class StyleRegimes:
    """The market-wide style regime of each trading day (seeded by ``seed`` alone)."""

    def __init__(self, seed: int, chunk: int) -> None:
        self.seed = seed
        self.chunk = chunk
        self.states: list[np.ndarray] = []   # per chunk, indexes into STYLES
        self._state = 0

    def ensure(self, n_chunks: int) -> None:
        for k in range(len(self.states), n_chunks):
            rng = np.random.default_rng([self.seed, _SEED_TAG, k])
            n = self.chunk
            switch, pick = rng.random(n).tolist(), rng.integers(1, len(STYLES), n).tolist()
            states = np.empty(n, dtype=np.int64)
            state = self._state
            for i in range(n):  # a Markov chain is sequential by nature
                if switch[i] >= STAY:
                    state = (state + pick[i]) % len(STYLES)   # always to another style
                states[i] = state
            self._state = state
            self.states.append(states)

    def style_on(self, chunk: int, i: int) -> str:
        self.ensure(chunk + 1)
        return STYLES[int(self.states[chunk][i])]


def styled_idiosyncratic(z: np.ndarray, push: np.ndarray, states: np.ndarray,
                         carry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of standardized idiosyncratic moves under the style regimes.

    ``z`` is the chunk's fresh noise, ``push`` the news push of each day,
    ``states`` the style of each day and ``carry`` the previous chunk's last
    ``AR_WINDOW`` moves. Returns the moves and the carry for the next chunk.
    """
    phi, kappa = PHI[states], KAPPA[states]
    base = (z + kappa * push).tolist()
    phi_l = phi.tolist()
    history = carry.tolist()
    out = np.empty(len(base))
    window = float(sum(history[-AR_WINDOW:]))
    for i in range(len(base)):
        value = base[i] + phi_l[i] * window / AR_WINDOW
        out[i] = value
        history.append(value)
        window += value - history[-AR_WINDOW - 1]
    return out, np.asarray(history[-AR_WINDOW:], dtype=float)
