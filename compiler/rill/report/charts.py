"""The report's picture (matplotlib, Agg): a Gantt chart of every core's matrix and vector slot
over one inference with the critical path drawn through it, the critical path by model op, and
the issue-slot utilisation with the MAC array against its bounds."""

from __future__ import annotations

from pathlib import Path

from .analysis import INPUT_LABEL, Report


def _colors(labels: list[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    out = {INPUT_LABEL: (0.75, 0.75, 0.75, 1.0)}
    for k, label in enumerate(labels):
        out.setdefault(label, cmap(k % cmap.N))
    return out


def render(rep: Report, vm, path: Path) -> Path:
    """Draw the report into `path` (.png or .svg) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colors = _colors(rep.labels)
    fig = plt.figure(figsize=(13, 8.2), layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[1.15, 1], width_ratios=[1.35, 1])
    _gantt(fig.add_subplot(gs[0, :]), rep, vm, colors)
    _path_bars(fig.add_subplot(gs[1, 0]), rep, colors)
    _utilisation(fig.add_subplot(gs[1, 1]), rep)
    handles = [Patch(color=colors[lb], label=lb) for lb in [INPUT_LABEL, *rep.labels]]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
               frameon=False, fontsize=9, title="model op (NNIR node)", title_fontsize=9)
    fig.suptitle(f"{rep.name} on {rep.config}: {rep.cycles} cycles per inference "
                 f"({rep.us:.3f} µs at {rep.clock_mhz:g} MHz)", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _gantt(ax, rep: Report, vm, colors) -> None:
    rows = [(c, s) for c in range(rep.cores) for s in (0, 1)]
    y_of = {cs: len(rows) - 1 - k for k, cs in enumerate(rows)}
    by_row: dict[tuple[int, int], list] = {cs: [] for cs in rows}
    for core, pc, slot, label in rep.slots:
        by_row[(core, slot)].append((rep.n_in + pc, label))
    for cs, items in by_row.items():
        ax.broken_barh([(t, 1) for t, _ in items], (y_of[cs] - 0.4, 0.8),
                       facecolors=[colors[lb] for _, lb in items], linewidth=0)
    if rep.n_in:
        ax.axvspan(0, rep.n_in, color=colors[INPUT_LABEL], alpha=0.5, lw=0)
    ax.axvspan(rep.cycles - rep.out_latency, rep.cycles, color="k", alpha=0.08, lw=0)
    # the critical path: through the issue slot of each op on it
    xs, ys = [], []
    for i in rep.path:
        ev = vm.events[i]
        xs.append(rep.n_in + ev.cycle + 0.5)
        ys.append(y_of[(ev.core, 0 if ev.kind in ("mac", "macc") else 1)])
    xs.append(rep.cycles)
    ys.append(ys[-1])
    ax.plot(xs, ys, color="k", lw=1.1, marker="o", ms=2.5, label="critical path")
    ax.set_yticks([y_of[cs] for cs in rows],
                  [f"core {c} {'matrix' if s == 0 else 'vector'}" for c, s in rows])
    ax.set_xlim(0, rep.cycles)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("cycle of the inference (0 = first input beat accepted)")
    ax.set_title("issue slots per core and unit; line: the critical path; grey: input beats, "
                 "output latency", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)


def _path_bars(ax, rep: Report, colors) -> None:
    rows = rep.by_op[::-1]
    y = range(len(rows))
    ax.barh(y, [r.latency for r in rows], color=[colors.get(r.label, "grey") for r in rows])
    ax.barh(y, [r.wait for r in rows], left=[r.latency for r in rows], color="white",
            edgecolor=[colors.get(r.label, "grey") for r in rows], hatch="///", lw=0.8)
    for k, r in enumerate(rows):
        ax.text(r.cycles, k, f" {r.cycles} ({r.cycles / rep.cycles:.0%})", va="center",
                fontsize=8)
    ax.set_yticks(list(y), [r.label for r in rows], fontsize=9)
    ax.set_xlim(0, max(r.cycles for r in rows) * 1.3 + 1)
    ax.set_xlabel("cycles of the critical path (solid: latency, hatched: waiting for a slot)")
    ax.set_title(f"critical path by model op ({rep.cycles} cycles, {len(rep.path)} ops)",
                 fontsize=10)


def _utilisation(ax, rep: Report) -> None:
    names, vals, cols = [], [], []
    for c, u in enumerate(rep.unit_ops):
        names += [f"c{c} matrix", f"c{c} vector"]
        vals += [u["matrix"] / rep.cycles, u["vector"] / rep.cycles]
        cols += ["#4d4d4d", "#a6a6a6"]  # neutral: the node colours mean model ops
    names += ["MAC array", "at throughput\nbound", "at latency\nbound"]
    vals += [rep.mac_util, rep.util_at(rep.throughput_bound), rep.util_at(rep.latency_bound)]
    cols += ["black", "#d9d9d9", "#d9d9d9"]
    x = range(len(names))
    ax.bar(x, [100 * v for v in vals], color=cols)
    for k, v in enumerate(vals):
        ax.text(k, 100 * v, f"{100 * v:.0f}%", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of the inference's cycles")
    ax.set_title(f"slot utilisation; MAC array: {rep.macs} MACs / ({rep.cores} x "
                 f"{rep.cycles}) = {rep.mac_util:.0%}", fontsize=10)
