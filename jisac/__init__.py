"""jisac: a differentiable simulator for secure ISAC with metasurface transceivers.

Public names are re-exported here on purpose; import ``jisac.X`` rather than deep paths.
The pure-JAX layers (geometry, channels, hardware, metrics, certification, manifold) load
with ``import jisac``; the solver layers (``jisac.convex``, ``jisac.algorithms``) import
cvxpy and are loaded on use.
"""

from . import certify as certify
from . import channels as channels
from . import geometry as geometry
from . import hardware as hardware
from . import manifold as manifold
from . import metrics as metrics
from . import units as units
from .config import JobConfig as JobConfig
from .config import job_from_dict as job_from_dict
from .config_errors import ConfigError as ConfigError
from .scenarios import SimScenario as SimScenario
from .scenarios import TrisScenario as TrisScenario

__version__ = "0.1.0"
