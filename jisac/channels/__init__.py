"""Channel models: paper 000 (TRIS links, uncertainty sets, radar) and paper 004 (SIM links)."""

from . import sim_coupling as sim_coupling
from . import sim_links as sim_links
from . import tris_links as tris_links
