"""Dead-node elimination: a `Graph -> Graph` pass.

A node no output reads (directly or through other nodes) changes nothing the program returns,
but lowered it would take issue slots, write ports and registers, and delay the outputs
(torch.fx keeps such nodes: a model may compute a value it never returns). Inputs stay, as
they are the program's interface (their beats are accepted whether read or not). A streamed
recurrent node no output reads is dead too: its state is never observed.
"""

from __future__ import annotations

import dataclasses

from .graph import Graph, OpKind


def eliminate_dead_nodes(graph: Graph) -> Graph:
    by_name = {n.name: n for n in graph.nodes}
    live: set[str] = set()
    stack = [n.name for n in graph.nodes if n.op is OpKind.OUTPUT]
    while stack:
        name = stack.pop()
        if name in live:
            continue
        live.add(name)
        stack.extend(by_name[name].inputs)
    kept = tuple(n for n in graph.nodes if n.name in live or n.op is OpKind.INPUT)
    if len(kept) == len(graph.nodes):
        return graph
    return dataclasses.replace(graph, nodes=kept)
