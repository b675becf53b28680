"""Raster plots and membrane traces of recorded PyNN data (neo files written by ``write_data``).

Why here and not in each script: the examples, ``nmcluster plot`` and anyone's own analysis draw the
same two figures from the same files, so there is one implementation.  matplotlib is optional (extra
``plot``) and imported only when a figure is drawn; neo is a core dependency.

Files: whatever :func:`neo.io.get_io` reads: what PyNN's ``write_data`` writes (``.pkl``/``.pickle``
neo PickleIO always, ``.nix``/``.h5`` with the ``nix`` extra) and the other formats neo knows.

* :func:`plot_file` draws one figure (``kind="raster"`` or ``"membrane"``) from a data file;
* :func:`example_figures` is what the example scripts call after ``write_data``: the raster and, when a
  membrane was recorded, the trace; without matplotlib it returns ``[]`` and says so on stderr;
* :func:`data_files` picks the data files out of a list of names (a job's outputs).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from nmcluster.errors import UserInputError

#: extensions of the data files picked out of a job's outputs: what ``write_data`` produces (PyNN's
#: get_io) plus NEST's spike files and NWB; a FILE given by name may be any format neo.io.get_io reads
DATA_SUFFIXES = (".pkl", ".pickle", ".nix", ".h5", ".gdf", ".nwb")
KINDS = ("raster", "membrane")
INSTALL_HINT = "pip install 'nmcluster[plot]'"


class PlotError(UserInputError):
    """The data cannot be plotted (no matplotlib, unreadable file, nothing recorded).  Exit code 2."""


def require_matplotlib():
    """``matplotlib.pyplot`` with the non-interactive Agg backend, or PlotError naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError(f"matplotlib is not installed; install the plot extra: {INSTALL_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def data_files(names: Iterable[str]) -> list[str]:
    """The names that look like neo data files, in the given order."""
    return [n for n in names if Path(n).suffix.lower() in DATA_SUFFIXES]


def read_blocks(path: str | Path) -> list:
    """The neo Blocks in ``path`` (PlotError when it is missing or not a neo file).

    Any format :func:`neo.io.get_io` knows by its extension (neo/io/__init__.py: pickle, NIX, NWB,
    Matlab, Spike2, Axon, ...), so the data files of PyNN's ``write_data`` and of other tools plot
    alike.  NIX files are opened read-only (NixIO's default mode would open them for writing).
    """
    import neo

    path = Path(path)
    if not path.is_file():
        raise PlotError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".nix", ".h5"):
            try:
                io = neo.io.NixIO(filename=str(path), mode="ro")
            except ImportError:
                raise PlotError(f"{path}: reading NIX files needs nixio: pip install 'nmcluster[nix]'") from None
        else:
            try:
                io = neo.io.get_io(str(path))
            except (OSError, ValueError) as exc:  # "File extension .x not registered"
                known = {e.lower() for cls in neo.io.iolist for e in getattr(cls, "extensions", [])
                         if e.isalpha()}
                examples = [e for e in ("nix", "pkl", "gdf", "nwb", "mat", "smr", "abf") if e in known]
                raise PlotError(f"{path}: not a format neo can read ({exc}); neo.io.get_io knows "
                                f"{len(known)} extensions, e.g. .{', .'.join(examples)}") from None
        try:
            if type(io).__name__ == "NestIO":
                blocks = [_read_nest_spikes(io, path)]
            elif hasattr(io, "read_all_blocks"):
                blocks = io.read_all_blocks()
            else:
                blocks = io.read()
        finally:
            close = getattr(io, "close", None)
            if callable(close):
                close()
    except PlotError:
        raise
    except ImportError as exc:  # an IO whose optional dependency is missing (pynwb, scipy, ...)
        raise PlotError(f"{path}: reading this format needs {exc.name or exc}: install it") from None
    except Exception as exc:  # corrupt pickle, foreign HDF5 ...: one line, not a traceback
        raise PlotError(f"{path}: cannot read neo data ({type(exc).__name__}: {exc})") from None
    if isinstance(blocks, neo.Block):
        blocks = [blocks]
    blocks = [b for b in blocks if isinstance(b, neo.Block)]
    if not blocks:
        raise PlotError(f"{path}: contains no neo Block")
    return blocks


def _read_nest_spikes(io, path: Path):
    """NEST's own spike files (``.gdf``/``.dat``: neuron id, time in ms per line), e.g. from the NEST
    peer of the benchmarks.  neo's NestIO wants the ids (``[]``: all) and the time window, which such a
    file does not state: the window is 0 to just past its last spike."""
    import neo
    import numpy as np

    data = np.loadtxt(path, ndmin=2)
    t_stop = float(data[:, 1].max()) + 0.1 if data.size else 1.0
    ms = neo.SpikeTrain([], t_stop=1.0, units="ms").units  # a quantities unit without importing it here
    return io.read_block(gid_list=[], t_start=0.0 * ms, t_stop=t_stop * ms)


@dataclass
class Recording:
    """What the figures need from a file: spike trains grouped by population, membrane traces."""

    backend: str
    label: str
    groups: list[tuple[str, list]]  # (population label, [spike times in ms per neuron])
    signals: list[tuple[str, object, object]]  # (name, times in ms, values (n_samples, n_channels))
    units: str = "mV"
    t_stop: float | None = None

    @property
    def n_spikes(self) -> int:
        return sum(len(t) for _, trains in self.groups for t in trains)

    @property
    def n_neurons(self) -> int:
        return sum(len(trains) for _, trains in self.groups)


def load_recording(path: str | Path) -> Recording:
    """Read ``path`` and group its spike trains by source population (PyNN's annotations)."""
    import numpy as np

    blocks = read_blocks(path)
    backend, label = "", ""
    groups: dict[str, list] = {}
    signals: list = []
    units = "mV"
    t_stop = None
    for block in blocks:
        ann = block.annotations
        backend = backend or str(ann.get("backend") or ann.get("simulator") or "")
        label = label or str(ann.get("script") or block.name or "")
        for seg in block.segments:
            for st in seg.spiketrains:
                pop = str(st.annotations.get("source_population", "") or "")
                groups.setdefault(pop, []).append(np.asarray(st.rescale("ms").magnitude, float))
                t_stop = max(t_stop or 0.0, float(st.t_stop.rescale("ms").magnitude))
            for sig in seg.analogsignals:
                times = np.asarray(sig.times.rescale("ms").magnitude, float)
                name = str(sig.name or "signal")
                pop = sig.annotations.get("source_population")
                ids = sig.annotations.get("channel_ids")
                ids = None if ids is None else np.ravel(ids)  # NIX gives a 1-element list back as a scalar
                if pop:
                    name += f" of {pop}"
                if ids is not None and len(ids) == 1:
                    name += f" #{int(np.ravel(ids)[0])}"
                units = sig.units.dimensionality.string or units
                signals.append((name, times, np.asarray(sig.magnitude, float)))
                if len(times):
                    t_stop = max(t_stop or 0.0, float(times[-1]))
    return Recording(backend or "unknown backend", label, list(groups.items()), signals, units, t_stop)


def _title(rec: Recording, what: str, source: Path) -> str:
    name = rec.label if rec.label and ";" not in rec.label else source.stem
    return f"{name}: {what} ({rec.backend})"


def plot_raster(rec: Recording, out: str | Path, source: str | Path = "data") -> Path:
    """One row per neuron, populations stacked bottom-up in recording order and labelled on the
    y axis, alternating colours per population; PlotError when there are no spike trains."""
    if not rec.groups:
        raise PlotError(f"{source}: no spike trains recorded (record('spikes') before run)")
    plt = require_matplotlib()
    colours = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown")
    n = rec.n_neurons
    ms = max(1.0, min(4.0, 500.0 / max(n, 1)))  # tick height: rows stay apart in large networks
    fig, ax = plt.subplots(figsize=(9, max(3.5, min(10, 2 + n * 0.03))))
    row = 0
    ticks, ticklabels = [], []
    for k, (pop, trains) in enumerate(rec.groups):
        low = pop.lower()  # exc/inh coloured by name (guidebook: red/blue), others cycle
        colour = ("tab:red" if low.startswith("exc") else "tab:blue" if low.startswith("inh")
                  else colours[k % len(colours)])
        for i, times in enumerate(trains):
            if len(times):
                ax.plot(times, [row + i] * len(times), ls="", marker="|", ms=ms, mew=1.0, c=colour)
        if len(rec.groups) <= 40:
            ticks.append(row + (len(trains) - 1) / 2)
            ticklabels.append(pop or f"population {k}")
        row += len(trains)
        if k < len(rec.groups) - 1:
            ax.axhline(row - 0.5, color="0.85", lw=0.5)
    ax.set_ylim(-0.5, row - 0.5)
    if rec.t_stop:
        ax.set_xlim(0, rec.t_stop)
    ax.set_xlabel("time (ms)")
    if ticks:
        ax.set_yticks(ticks, ticklabels, fontsize=7 if len(ticks) > 12 else 9)
        ax.set_ylabel("population (one row per neuron)")
    else:
        ax.set_ylabel("neuron index")
    ax.set_title(_title(rec, f"{rec.n_spikes} spikes of {n} neurons", Path(source)))
    fig.tight_layout()
    return _save(fig, plt, out)


def plot_membrane(rec: Recording, out: str | Path, source: str | Path = "data") -> Path:
    """The recorded analog signals (membrane potential) against time; PlotError when there are none."""
    if not rec.signals:
        raise PlotError(f"{source}: no analog signals recorded (record('v') before run)")
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for name, times, values in rec.signals:
        values = values.reshape(len(times), -1)
        for c in range(values.shape[1]):
            ax.plot(times, values[:, c], lw=0.8,
                    label=name if values.shape[1] == 1 else f"{name} [{c}]")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"membrane potential ({rec.units})")
    if rec.t_stop:
        ax.set_xlim(0, rec.t_stop)
    if sum(v.reshape(len(t), -1).shape[1] for _, t, v in rec.signals) <= 8:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(_title(rec, "membrane potential", Path(source)))
    fig.tight_layout()
    return _save(fig, plt, out)


def _save(fig, plt, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def default_output(path: str | Path, kind: str) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}_{kind}.png")


def plot_file(path: str | Path, out: str | Path | None = None, kind: str = "raster") -> Path:
    """Draw ``kind`` (raster or membrane) from the neo file ``path`` into ``out`` (default
    ``<stem>_<kind>.png`` next to the file); returns the PNG's path."""
    if kind not in KINDS:
        raise PlotError(f"unknown plot kind {kind!r} (one of {', '.join(KINDS)})")
    require_matplotlib()  # before reading: the missing extra is the first thing to report
    rec = load_recording(path)
    out = Path(out) if out is not None else default_output(path, kind)
    return (plot_raster if kind == "raster" else plot_membrane)(rec, out, path)


def example_figures(path: str | Path, kinds: Sequence[str] = KINDS) -> list[Path]:
    """The figures of an example's data file: each of ``kinds`` the file has data for.  Without
    matplotlib: a note on stderr and no figures (the data file is the result that matters)."""
    if not have_matplotlib():
        print(f"(no plots: matplotlib is missing; {INSTALL_HINT})", file=sys.stderr)
        return []
    rec = load_recording(path)
    made = []
    for kind in kinds:
        if (kind == "raster" and rec.groups) or (kind == "membrane" and rec.signals):
            fn = plot_raster if kind == "raster" else plot_membrane
            made.append(fn(rec, default_output(path, kind), path))
    return made
