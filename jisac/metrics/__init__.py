"""Performance metrics of both papers, as pure JAX functions."""

from . import crb as crb
from . import detection as detection
from . import multiple_access as multiple_access
from . import rsma as rsma
from . import sim_secrecy as sim_secrecy
