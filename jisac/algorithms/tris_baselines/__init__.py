"""Paper-000 (TRIS-RSMA) Sec.-V baselines with artificial noise: ZF, SDP, SDMA, NOMA.

See docs/derivations/tris_baselines.md.
"""

from .common import TrisAnDesign, certify_an, evaluate_an, slot_durations
from .noma_an import noma_an
from .sdma_an import sdma_an
from .sdp_an import sdp_an
from .zf_an import zf_an

__all__ = ["TrisAnDesign", "evaluate_an", "certify_an", "slot_durations", "zf_an", "sdp_an",
           "sdma_an", "noma_an"]
