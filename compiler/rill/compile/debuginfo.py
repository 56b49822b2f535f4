"""Provenance: which NNIR node (and dataflow op) every emitted bundle slot came from.

An optional debug table of a Program (`Program.debug`), built by the compiler from the dataflow
and the schedule. It changes nothing the hardware or the VM runs: `rill trace` and `rill report`
use it to name the model op behind each instruction. In a saved file it is the optional header
key "debug" (older readers ignore unknown keys; a file without it loads with `debug = None`):

    {"nodes": [{"name", "op", "source", "detail"}, ...],
     "slots": base64(zlib(int32 little-endian [cores, length, 2 slots, 2])),
     "n_ops": dataflow ops,
     "schedule": {"scheduler", "floor", "proven"}}   (optional)

where slot 0 is the matrix slot, 1 the vector slot, and the last axis holds (dataflow op id,
index into `nodes`), -1 for an empty slot or an op without a node. "schedule" says which
scheduler made the program and, for the optimal one, the floor CP-SAT proved for the model's
dataflow graph in cycles per inference (`proven`: no schedule of that graph is faster).
"""

from __future__ import annotations

import base64
import dataclasses
import zlib

import numpy as np

MATRIX, VECTOR = 0, 1  # slot index


@dataclasses.dataclass(frozen=True)
class NodeInfo:
    name: str  # NNIR node name
    op: str  # NNIR op kind
    source: str = ""  # the user's source line
    detail: str = ""  # finer scope within the node (e.g. "layer 1" of an LSTM)

    def label(self) -> str:
        return f"{self.name} {self.detail}".strip()


@dataclasses.dataclass(frozen=True)
class ScheduleNote:
    scheduler: str  # "list" or "optimal" (compile_graph's `scheduler`)
    floor: int | None = None  # cycles per inference no schedule of the graph beats (optimal)
    proven: bool = False  # the program's count is that floor

    @classmethod
    def from_json(cls, d) -> ScheduleNote:
        if not isinstance(d, dict) or not isinstance(d.get("scheduler"), str):
            raise TypeError(f"debug schedule {d!r}: expected an object with a 'scheduler'")
        floor = d.get("floor")
        if floor is not None and (not isinstance(floor, int) or floor < 0):
            raise ValueError(f"debug schedule floor {floor!r}: expected a cycle count")
        return cls(d["scheduler"], floor, bool(d.get("proven", False)))


@dataclasses.dataclass(eq=False)
class DebugInfo:
    nodes: list[NodeInfo]
    slots: np.ndarray  # int32 [cores, length, 2, 2]: (dataflow op id, node index) or -1
    n_ops: int = 0
    schedule: ScheduleNote | None = None

    def node_at(self, core: int, pc: int, slot: int) -> NodeInfo | None:
        k = int(self.slots[core, pc, slot, 1])
        return self.nodes[k] if k >= 0 else None

    def op_at(self, core: int, pc: int, slot: int) -> int | None:
        k = int(self.slots[core, pc, slot, 0])
        return k if k >= 0 else None

    def to_json(self) -> dict:
        raw = np.ascontiguousarray(self.slots, "<i4").tobytes()
        return {
            "nodes": [dataclasses.asdict(n) for n in self.nodes],
            "shape": list(self.slots.shape),
            "slots": base64.b64encode(zlib.compress(raw, 6)).decode("ascii"),
            "n_ops": self.n_ops,
            **({} if self.schedule is None else {"schedule": dataclasses.asdict(self.schedule)}),
        }

    @classmethod
    def from_json(cls, d: dict) -> DebugInfo:
        """Raises KeyError/ValueError/TypeError on a malformed table (Program.load turns these
        into a LoadError); shapes and ranges are checked by validate_program."""
        if not isinstance(d, dict):
            raise TypeError(f"debug table is a {type(d).__name__}, expected an object")
        nodes = [NodeInfo(str(n["name"]), str(n["op"]), str(n.get("source", "")),
                          str(n.get("detail", ""))) for n in d["nodes"]]
        shape = tuple(int(s) for s in d["shape"])
        try:
            raw = zlib.decompress(base64.b64decode(d["slots"], validate=True))
        except (zlib.error, ValueError) as e:  # binascii.Error is a ValueError
            raise ValueError(f"debug slots: {e}") from e
        slots = np.frombuffer(raw, "<i4").astype(np.int32).reshape(shape)
        schedule = None if d.get("schedule") is None else ScheduleNote.from_json(d["schedule"])
        return cls(nodes, slots, int(d.get("n_ops", 0)), schedule)

    def check(self, cores: int, length: int) -> str | None:
        """None, or what is wrong with the table for a program of this shape."""
        s = self.slots
        if s.dtype != np.int32 or s.shape != (cores, length, 2, 2):
            return f"slots {s.dtype} {s.shape}, expected int32 {(cores, length, 2, 2)}"
        if s.size and (s[..., 1].min() < -1 or s[..., 1].max() >= len(self.nodes)):
            return f"node index outside [-1, {len(self.nodes)})"
        if s.size and s[..., 0].min() < -1:
            return "negative dataflow op id"
        return None


def build_debug(df, sch, nodes_by_name: dict, cores: int,
                schedule: ScheduleNote | None = None) -> DebugInfo:
    """The table of a compiled program: `df` the Dataflow (ops carry `node`, `detail`), `sch`
    its Schedule, `nodes_by_name` the NNIR nodes (name -> Node), `schedule` how it was made."""
    table: dict[tuple[str, str], int] = {}
    nodes: list[NodeInfo] = []
    slots = np.full((cores, sch.length, 2, 2), -1, np.int32)
    for o in df.ops:
        name = getattr(o, "node", "")
        k = -1
        if name:
            key = (name, getattr(o, "detail", ""))
            if key not in table:
                n = nodes_by_name.get(name)
                table[key] = len(nodes)
                nodes.append(NodeInfo(name, str(n.op) if n is not None else "",
                                      n.source if n is not None else "", key[1]))
            k = table[key]
        slot = MATRIX if o.is_matrix else VECTOR
        slots[sch.core[o.id], sch.issue[o.id], slot] = (o.id, k)
    return DebugInfo(nodes, slots, len(df.ops), schedule)
