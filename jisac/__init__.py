"""jisac: a differentiable simulator for secure ISAC with metasurface transceivers.

Public names are re-exported here on purpose; import ``jisac.X`` rather than deep paths.
"""

from . import geometry as geometry
from . import units as units

__version__ = "0.1.0"
