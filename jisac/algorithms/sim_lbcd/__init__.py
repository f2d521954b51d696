"""Paper 004 (SIM-ISAC) layered block-coordinate descent (Algorithm 1), one drop at a time.

Modules: ``objective`` (the scalarised utility (24) and its pieces), ``block_a`` (sensing SIM
phases and sensing power), ``block_c`` (communication SIM phases), ``discrete`` (b-bit
projection + local search, (31)-(32), and the quantisation-loss bound of Prop. 3);
blocks B, D, E and the driver live in sibling modules. Interfaces: ``docs/lbcd_interfaces.md``;
derivations: ``docs/derivations/sim_lbcd.md``.
"""
