"""Monte-Carlo certification: binomial intervals, chunked MC kernels, fused TRIS-RSMA outage."""

from .monte_carlo import (MeanVar, draw_bits, draw_keys, mc_count, mc_mean_var, mc_moments,
                          mc_probability, scan_counts)
from .stats import (Estimate, binomial_estimate, clopper_pearson_interval, mean_estimate,
                    wilson_interval)
from .tris import (TrisOutage, n_words_per_draw, normals_from_bits, outage_events,
                   std_complex_normal, tris_outage, tris_outage_counts, tris_outage_counts_slots,
                   tris_outage_slots, tris_rates)

__all__ = [
    "Estimate", "MeanVar", "TrisOutage", "binomial_estimate", "clopper_pearson_interval",
    "draw_bits", "draw_keys", "mc_count", "mc_mean_var", "mc_moments", "mc_probability",
    "mean_estimate", "n_words_per_draw", "normals_from_bits", "outage_events", "scan_counts",
    "std_complex_normal", "tris_outage", "tris_outage_counts", "tris_outage_counts_slots",
    "tris_outage_slots", "tris_rates", "wilson_interval",
]
