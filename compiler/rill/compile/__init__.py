"""Layer `compile`: NNIR -> Program.

`compiler` (the pass pipeline `compile_graph`), `lower` (NNIR -> dataflow of block ops;
`lower_rnn`: the GRU),
`dataflow`, `schedule` (list scheduling), `regalloc` (register allocation), `emit` (bundles and
the schedule checker), `program` (Program and its file format), `link` (ProgramBuilder:
several models in one program). Depends on `rill.hw`, `rill.ir`
and `rill.errors`. The VM sits above this layer: `Program.to_vm()` imports `rill.vm` lazily,
inside the method (the one documented upward edge, see tests/test_layers.py).
"""
