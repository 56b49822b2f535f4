"""A sweep's outputs: CSV (and Parquet when pyarrow is installed), an HTML page with plots,
and a terminal table."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

COLUMNS = ("model", "config", "num_cores", "block_size", "weight_depth", "rf_depth",
           "instr_depth", "out_fifo_depth", "clock_mhz", "fits", "reason", "cycles", "interval",
           "lut", "ff", "dsp", "bram", "bram_kbits", "lutram", "carry4", "fmax_mhz", "class_mhz",
           "us_at_fmax", "us_at_clock", "rtl_cycles", "rtl_interval", "rtl_equal", "rtl_error",
           "compile_s", "worker")


def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in COLUMNS})
    return path


def write_parquet(rows: list[dict], path: Path) -> Path | None:
    """Parquet if pyarrow is importable (not a dependency), else None."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    cols = {k: [None if r.get(k) is None else (str(r[k]) if k.startswith("rtl_") else r[k])
                for r in rows] for k in COLUMNS}
    pq.write_table(pa.table(cols), path)
    return path


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both (smaller is better on both axes),
    ordered by the first coordinate."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def _fmt(v: object) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def table(rows: list[dict], width: int = 100) -> str:
    """The terminal table: one line per point; the reason cut to `width` characters."""
    head = ("model", "config", "fits", "cycles", "interval", "LUT", "FF", "DSP", "BRAM",
            "Fmax", "µs@Fmax", "µs@clk", "RTL", "reason")
    out = []
    for r in rows:
        rtl = "-" if r.get("rtl_equal") is None else ("= VM" if r["rtl_equal"] else
                                                       f"{r.get('rtl_cycles')} != VM")
        if r.get("rtl_error") and r.get("rtl_equal") is None:
            rtl = "error"
        reason = (r.get("reason") or "")[:width]
        out.append((r["model"], r["config"], _fmt(r["fits"]), _fmt(r.get("cycles")),
                    _fmt(r.get("interval")), f"{r['lut'] / 1e3:.0f}K", f"{r['ff'] / 1e3:.0f}K",
                    _fmt(r["dsp"]), _fmt(r["bram"]), f"{r['fmax_mhz']:.0f}",
                    _fmt(r.get("us_at_fmax")), _fmt(r.get("us_at_clock")), rtl, reason))
    widths = [max(len(h), *(len(x[i]) for x in out)) if out else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
              for row in out]
    return "\n".join(lines)


def _kilo(x: float, _pos: object = None) -> str:
    """Tick labels of a log axis in thousands: 400K, 1M, 2.5M."""
    return f"{x:.0f}K" if x < 1000 else f"{x / 1000:.3g}M"


def _kilo_minor(x: float, _pos: object = None) -> str:
    lead = x / 10 ** int(f"{x:e}".split("e")[1])
    return _kilo(x) if round(lead) in (2, 5) else ""


def figure(rows: list[dict]):
    """Per model, two panels: cycles vs LUT with the Pareto front, and µs at the model's Fmax
    (and at the nominal clock) vs LUT. Points that do not fit are marked along the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    models = list(dict.fromkeys(r["model"] for r in rows))
    blocks = sorted({r["block_size"] for r in rows})
    cmap = plt.get_cmap("viridis")
    colour = {b: cmap(i / max(1, len(blocks) - 1) * 0.85) for i, b in enumerate(blocks)}
    markers = {1: "o", 2: "s", 3: "^", 4: "D", 5: "v", 6: "P", 7: "X", 8: "*"}
    fig, axes = plt.subplots(len(models), 2, figsize=(12, 4.2 * len(models)), squeeze=False)
    for row_axes, m in zip(axes, models, strict=True):
        pts = [r for r in rows if r["model"] == m]
        fit = [r for r in pts if r["fits"]]
        nofit = [r for r in pts if not r["fits"]]
        for ax, key, title in ((row_axes[0], "cycles", "cycles per inference"),
                               (row_axes[1], "us_at_fmax", "µs per inference")):
            for r in fit:
                ax.scatter(r["lut"] / 1e3, r[key], color=colour[r["block_size"]],
                           marker=markers.get(r["num_cores"], "o"), s=46, zorder=3,
                           edgecolor="black", linewidth=0.4)
            if key == "us_at_fmax":
                for r in fit:
                    ax.scatter(r["lut"] / 1e3, r["us_at_clock"], color=colour[r["block_size"]],
                               marker=markers.get(r["num_cores"], "o"), s=26, zorder=2,
                               alpha=0.35)
            if fit:
                idx = pareto([(r["lut"], r[key]) for r in fit])
                xs = [fit[i]["lut"] / 1e3 for i in idx]
                ys = [fit[i][key] for i in idx]
                ax.step(xs, ys, where="post", color="crimson", lw=1.4, zorder=1,
                        label="Pareto front")
                for i in idx:
                    ax.annotate(fit[i]["config"].split(" ")[0], (fit[i]["lut"] / 1e3,
                                fit[i][key]), textcoords="offset points", xytext=(5, 4),
                                fontsize=7.5, color="crimson")
            if nofit:  # along the bottom edge, at their LUTs
                ax.scatter([r["lut"] / 1e3 for r in nofit], [0.03] * len(nofit),
                           transform=ax.get_xaxis_transform(), marker="x", color="grey",
                           s=30, clip_on=False)
            ax.set_xscale("log")
            xs_all = [r["lut"] / 1e3 for r in pts]
            ax.set_xlim(min(xs_all) / 1.25, max(xs_all) * 1.25)
            ax.xaxis.set_major_formatter(FuncFormatter(_kilo))
            ax.xaxis.set_minor_formatter(FuncFormatter(_kilo_minor))
            ax.set_xlabel("LUT6 (resource model; x: does not fit)")
            ax.set_ylabel(title)
            ax.grid(True, which="both", alpha=0.25)
            if key == "cycles":
                ax.set_title(f"{m}: cycles vs LUTs", fontsize=11)
            else:
                fm = sorted({round(r['fmax_mhz']) for r in fit}) if fit else []
                clk = sorted({round(r["clock_mhz"]) for r in fit}) if fit else []
                ax.set_title(f"{m}: µs at modelled Fmax ({'/'.join(map(str, fm))} MHz, ECP5); "
                             f"faint: at nominal {'/'.join(map(str, clk))} MHz", fontsize=10)
    # one legend for colours (block size) and markers (cores)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="", color=colour[b], label=f"B = {b}")
               for b in blocks]
    handles += [Line2D([], [], marker=markers.get(c, "o"), ls="", color="grey",
                       label=f"{c} core{'s' if c > 1 else ''}")
                for c in sorted({r["num_cores"] for r in rows})]
    handles += [Line2D([], [], color="crimson", label="Pareto front"),
                Line2D([], [], marker="x", ls="", color="grey", label="does not fit")]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 9), fontsize=9,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (4.2 * len(models))))
    return fig


def png(rows: list[dict], path: Path, dpi: int = 110) -> Path:
    import matplotlib.pyplot as plt

    fig = figure(rows)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_html(rows: list[dict], path: Path, title: str, notes: list[str]) -> Path:
    import matplotlib.pyplot as plt

    fig = figure(rows)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    img = base64.b64encode(buf.getvalue()).decode()
    cols = ("model", "config", "fits", "cycles", "interval", "lut", "ff", "dsp", "bram",
            "fmax_mhz", "us_at_fmax", "us_at_clock", "rtl_cycles", "rtl_equal", "reason")
    body = ["<tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for r in rows:
        cls = "" if r["fits"] else " class=nofit"
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>"
                                           for c in cols) + "</tr>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} th{{background:#eee}}
tr.nofit td{{color:#888}} td:last-child{{text-align:left}}</style></head><body>
<h1>{html.escape(title)}</h1>
{"".join(f"<p>{html.escape(n)}</p>" for n in notes)}
<img src="data:image/png;base64,{img}" style="max-width:100%">
<table>{"".join(body)}</table></body></html>
"""
    Path(path).write_text(page)
    return Path(path)
