"""Transceiver hardware: TMA mapping (paper 000), SIM cascade and hybrid precoding (paper 004)."""

from . import hybrid as hybrid
from . import sim as sim
from . import tma as tma
