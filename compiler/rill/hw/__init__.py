"""Layer `hw`: the hardware definition, the bottom of rill (above `rill.errors` only).

`isa` (opcodes, bundle encoding, `Timing` latencies), `config` (sizes), `numerics` (the
bit-exact arithmetic contract), `rtlgen` (rtl/rill_pkg.sv from those) and `sources` (where the
RTL files are). Nothing here imports torch or any other rill layer, so the cocotb benches can
import it inside the simulator cheaply.
"""
