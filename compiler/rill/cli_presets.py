"""`rill presets [--json]`: the Config presets: cores, block size, weight depth, clock, MACs/cycle.

The board presets carry the commercial SDK's names (`bittware_ia840f_c3b64`, ...); the short
names `ia_840f_c3b64` and `ia_420f_c6b32` are aliases of two of them; `c1b8`, `c2b16` and
`c3b16` are rill's small configs for fast RTL simulation. Use a name as `--config NAME` or
`rill.Config.preset(NAME)` / `rill.Config.NAME()`.

exit status: 0 ok; 2 usage error; 3 internal error.
"""

from __future__ import annotations

import argparse
import json

from .hw.config import Config


def rows() -> list[dict]:
    out = []
    for name, factory in Config.presets().items():
        c = factory()
        out.append({"name": name, "num_cores": c.num_cores, "block_size": c.block_size,
                    "weight_depth": c.weight_depth, "clock_mhz": c.clock_mhz,
                    "macs_per_cycle": c.macs_per_cycle, "alias_of": Config.preset_alias_of(name),
                    "config": c.to_dict()})
    return out


def main(argv: list[str] | None = None) -> int:
    doc = __doc__
    ap = argparse.ArgumentParser(prog="rill presets", description=doc.split("\n\n")[1],
                                 epilog=doc[doc.index("exit status"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ns = ap.parse_args(argv)
    rs = rows()
    if ns.json:
        print(json.dumps(rs, indent=2))
        return 0
    table = [("name", "cores", "block", "weight depth", "clock MHz", "MACs/cycle", "")]
    for r in rs:
        table.append((r["name"], str(r["num_cores"]), str(r["block_size"]),
                      str(r["weight_depth"]), f"{r['clock_mhz']:g}", str(r["macs_per_cycle"]),
                      f"alias of {r['alias_of']}" if r["alias_of"] else ""))
    widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
    for t in table:
        cells = [t[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(t[1:-1], widths[1:-1],
                                                                        strict=True)]
        print("  ".join(cells + [t[-1]]).rstrip())
    return 0
