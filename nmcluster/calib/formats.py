"""Exchange formats: calibtic-style XML (BrainScaleS) and the Spikey calibration tool's ``.dat`` files.

The originals' exact layouts are not public; the layouts below are ours, chosen to carry the same
information, and are what ``nmcluster calib export/import`` read and write.

**calibtic XML**, one file ``w<W>-h<H>.xml`` per HICANN (the file names marocco's XML backend looks
up in ``calib_path``)::

    <?xml version="1.0" encoding="utf-8"?>
    <calibtic wafer="33" hicann="367" version="4" created="2026-01-01T12:00:00" source="emulated">
      <neuron id="0">
        <transformation parameter="V_t" kind="polynomial" domain_min="300" domain_max="1200">
          c0 c1 c2</transformation>          <!-- dac = c0 + c1 x + c2 x^2, x in the domain -->
        ...
      </neuron>
      ...
      <blacklist component="denmem">3 17 200</blacklist>
    </calibtic>

``kind="lookup"`` transformations list ``x:y`` pairs instead of coefficients.  Wafer-level
blacklists (``hicann``, ``fpga``) go to ``w<W>-blacklist.xml`` (``<blacklist component=...>``).

**Spikey** (station ``S``; all text, ``#`` comment header, whitespace-separated columns):

* ``calibTauMem_<S>.dat`` - 384 lines ``neuron g_leak_factor tau_mem_factor v_thresh_offset_mV
  tau_refrac_ms readout_offset_mV``;
* ``calibSynDriver_<S>_exc.dat`` / ``_inh.dat`` - 512 lines ``driver factor psp_mV`` (driver =
  block * 256 + index; factor multiplies the driver strength; psp is the uncalibrated PSP height).

Imported files are untrusted input (another user's export, a download): they are read only when they are
regular files of bounded size (:data:`MAX_IMPORT_BYTES`), XML without any DTD or entity declaration
(the refusal defusedxml makes, github: tiran/defusedxml, ``defusedxml/ElementTree.py``
``DefusedXMLParser``: ``EntityDeclHandler``/``UnparsedEntityDeclHandler``/``ExternalEntityRefHandler``
raise; here on the standard library's expat parser, so no extra dependency), with neuron and blacklist ids
inside the hardware's sizes; anything else is one :class:`CalibInputError` naming the file.
"""

from __future__ import annotations

import os
import re
import stat
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from nmcluster.calib import safety
from nmcluster.calib.store import Calibration, CalibInputError, parse_target, target_name

XML_RE = re.compile(r"^w(\d{1,9})-h(\d{1,3})\.xml$")
MAX_IMPORT_BYTES = 64 << 20  # one HICANN's XML is ~150 KB, a Spikey .dat ~30 KB


def _read_bytes(path: Path) -> bytes:
    """A regular file's bytes (not through a link, not a FIFO or device, not larger than the cap)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        why = "a symbolic link (not followed)" if exc.errno == 40 else exc.strerror
        raise CalibInputError(f"cannot read {path}: {why}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CalibInputError(f"cannot read {path}: not a regular file")
        if st.st_size > MAX_IMPORT_BYTES:
            raise CalibInputError(f"cannot read {path}: {st.st_size} bytes, more than {MAX_IMPORT_BYTES}")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(MAX_IMPORT_BYTES + 1)[:MAX_IMPORT_BYTES]
    finally:
        os.close(fd)


class _NoDTD(Exception):
    pass


def _parse_xml(path: Path) -> ET.Element:
    """Parse a calibtic file with expat into an ElementTree; DTDs, entity declarations and external
    entities are refused (the C ``XMLParser`` exposes no expat handlers, so expat feeds a TreeBuilder)."""
    from xml.parsers import expat

    data = _read_bytes(path)
    parser = expat.ParserCreate()
    builder = ET.TreeBuilder()

    def refuse(*_args) -> None:
        raise _NoDTD()

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
        return builder.close()
    except _NoDTD:
        raise CalibInputError(f"cannot read {path}: DTDs and entity declarations are not accepted") from None
    except (expat.ExpatError, AssertionError, ValueError, RecursionError) as exc:
        raise CalibInputError(f"cannot read {path}: {str(exc)[:200] or 'not XML'}") from None


def _int_attr(el: ET.Element, name: str, limit: int, path: Path, what: str) -> int:
    raw = el.get(name)
    if raw is None or not re.fullmatch(r"\s*\d{1,9}\s*", raw) or int(raw) >= limit:
        shown = raw if raw is None or len(raw) <= 24 else raw[:20] + "..."
        raise CalibInputError(f"{path}: {what} {name}={shown!r} must be an integer 0..{limit - 1}")
    return int(raw)


def _ids(text: str | None, path: Path, component: str, limit: int) -> np.ndarray:
    parts = (text or "").split()
    if len(parts) > limit or not all(re.fullmatch(r"\d{1,9}", x) for x in parts):
        raise CalibInputError(f"{path}: blacklist {component!r} must list at most {limit} ids 0..{limit - 1}")
    ids = np.array([int(x) for x in parts], np.int64)
    if ids.size and ids.max() >= limit:
        raise CalibInputError(f"{path}: blacklist {component!r} has ids outside 0..{limit - 1}")
    return ids


def _blacklists(root: ET.Element, path: Path, suffix: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for be in root.iter("blacklist"):
        comp = f"{be.get('component') or ''}{suffix}"
        limit = safety.blacklist_limit("wafer", comp)
        if limit is None:
            raise CalibInputError(f"{path}: blacklist component {str(be.get('component'))[:40]!r} is not a "
                                  f"component name (lower-case letters, digits, _)")
        out[comp] = _ids(be.text, path, comp, limit)
    return out


# -- Spikey ------------------------------------------------------------------------------------------
def export_spikey(cal: Calibration, directory: Path) -> list[Path]:
    _, station = parse_target(cal.target)
    d = cal.data
    missing = [k for k in ("neurons/g_leak_factor", "neurons/v_thresh_offset", "drivers/driver_factor") if k not in d]
    if missing:
        raise CalibInputError(f"{cal.target} version {cal.version} lacks {', '.join(missing)}; nothing to export")
    directory.mkdir(parents=True, exist_ok=True)
    head = (f"# nmcluster calibration of {cal.target}, version {cal.version}, "
            f"created {_iso(cal.meta.get('created'))}, source {cal.meta.get('source', '?')}\n")
    n = np.arange(384)
    tm = directory / f"calibTauMem_{station}.dat"
    cols = np.column_stack([n, d["neurons/g_leak_factor"], d.get("neurons/tau_mem_factor", d["neurons/g_leak_factor"]),
                            d["neurons/v_thresh_offset"], d.get("neurons/tau_refrac", np.ones(384)),
                            d.get("neurons/readout_offset", np.zeros(384))])
    with open(tm, "w") as fh:
        fh.write(head + "# neuron g_leak_factor tau_mem_factor v_thresh_offset_mV tau_refrac_ms readout_offset_mV\n")
        np.savetxt(fh, cols, fmt=["%d", "%.9g", "%.9g", "%.9g", "%.9g", "%.9g"])
    out = [tm]
    for typ in ("exc", "inh"):
        p = directory / f"calibSynDriver_{station}_{typ}.dat"
        f = d.get(f"drivers/factor_{typ}", d["drivers/driver_factor"])
        psp = d.get(f"drivers/psp_{typ}", np.full(512, np.nan))
        with open(p, "w") as fh:
            fh.write(head + "# driver factor psp_mV   (driver = block * 256 + index)\n")
            np.savetxt(fh, np.column_stack([np.arange(512), f, psp]), fmt=["%d", "%.9g", "%.9g"])
        out.append(p)
    return out


def _load_dat(path: Path, ncols: int, nrows: int) -> np.ndarray:
    import io

    data = _read_bytes(path)
    try:
        a = np.loadtxt(io.BytesIO(data), comments="#", ndmin=2)
    except (OSError, ValueError) as exc:
        raise CalibInputError(f"cannot read {path}: {str(exc)[:200]}") from None
    if a.shape != (nrows, ncols):
        raise CalibInputError(f"{path}: expected {nrows} rows of {ncols} columns, got {a.shape}")
    if not np.array_equal(a[:, 0], np.arange(nrows)):
        raise CalibInputError(f"{path}: first column must number the rows 0..{nrows - 1}")
    return a


def import_spikey(directory: Path, station: int) -> Calibration:
    tm = _load_dat(directory / f"calibTauMem_{station}.dat", 6, 384)
    exc = _load_dat(directory / f"calibSynDriver_{station}_exc.dat", 3, 512)
    inh = _load_dat(directory / f"calibSynDriver_{station}_inh.dat", 3, 512)
    data = {"neurons/g_leak_factor": tm[:, 1], "neurons/tau_mem_factor": tm[:, 2],
            "neurons/v_thresh_offset": tm[:, 3], "neurons/tau_refrac": tm[:, 4], "neurons/readout_offset": tm[:, 5],
            "drivers/factor_exc": exc[:, 1], "drivers/factor_inh": inh[:, 1],
            "drivers/psp_exc": exc[:, 2], "drivers/psp_inh": inh[:, 2],
            "drivers/driver_factor": np.sqrt(exc[:, 1] * inh[:, 1])}
    return Calibration(target_name("spikey", station), "spikey", data=data)


# -- calibtic XML --------------------------------------------------------------------------------------
def export_xml(cal: Calibration, directory: Path, hicanns: list[int] | None = None) -> list[Path]:
    _, wafer = parse_target(cal.target)
    directory.mkdir(parents=True, exist_ok=True)
    have = sorted({int(k.split("/")[1]) for k in cal.data if k.startswith("hicann/")})
    out = []
    for h in (hicanns if hicanns is not None else have):
        if h not in have:
            raise CalibInputError(f"{cal.target} version {cal.version} has no calibration of HICANN {h}")
        root = ET.Element("calibtic", wafer=str(wafer), hicann=str(h), version=str(cal.version),
                          created=_iso(cal.meta.get("created")), source=str(cal.meta.get("source", "")))
        params = sorted({k.split("/")[2] for k in cal.data if k.startswith(f"hicann/{h}/")})
        for p_ in params:
            co, dm = cal.data.get(f"hicann/{h}/{p_}/coeffs"), cal.data.get(f"hicann/{h}/{p_}/domain")
            if co is None or dm is None or np.shape(co)[0] != np.shape(dm)[0]:
                raise CalibInputError(f"{cal.target} version {cal.version}: HICANN {h} parameter {p_} needs "
                                      f"coeffs and domain of the same length; nothing to export")
        if len({np.shape(cal.data[f"hicann/{h}/{p_}/coeffs"])[0] for p_ in params}) > 1:
            raise CalibInputError(f"{cal.target} version {cal.version}: HICANN {h}'s parameters cover different "
                                  f"numbers of neurons; nothing to export")
        n = cal.data[f"hicann/{h}/{params[0]}/coeffs"].shape[0] if params else 0
        for i in range(n):
            ne = ET.SubElement(root, "neuron", id=str(i))
            for p in params:
                coeffs = cal.data[f"hicann/{h}/{p}/coeffs"][i]
                dom = cal.data[f"hicann/{h}/{p}/domain"][i]
                kind = str(cal.attrs.get(f"hicann/{h}/{p}/coeffs", {}).get("kind", "polynomial"))
                te = ET.SubElement(ne, "transformation", parameter=p, kind=kind,
                                   domain_min=f"{dom[0]:.9g}", domain_max=f"{dom[1]:.9g}")
                te.text = " ".join(f"{c:.12g}" for c in coeffs)
        for comp, ids in sorted(cal.blacklist.items()):
            m = re.fullmatch(r"(\w+)/h(\d+)", comp)
            if m and int(m.group(2)) == h:
                ET.SubElement(root, "blacklist", component=m.group(1)).text = " ".join(str(int(i)) for i in ids)
        ET.indent(root)
        p = directory / f"w{wafer}-h{h}.xml"
        ET.ElementTree(root).write(p, encoding="utf-8", xml_declaration=True)
        out.append(p)
    wafer_level = {c: ids for c, ids in cal.blacklist.items() if "/" not in c}
    if wafer_level:
        root = ET.Element("calibtic", wafer=str(wafer), version=str(cal.version))
        for comp, ids in sorted(wafer_level.items()):
            ET.SubElement(root, "blacklist", component=comp).text = " ".join(str(int(i)) for i in ids)
        ET.indent(root)
        p = directory / f"w{wafer}-blacklist.xml"
        ET.ElementTree(root).write(p, encoding="utf-8", xml_declaration=True)
        out.append(p)
    return out


def import_xml(directory: Path, wafer: int) -> Calibration:
    cal = Calibration(target_name("wafer", wafer), "wafer")
    try:
        files = sorted(p for p in directory.iterdir() if XML_RE.match(p.name)
                       and int(XML_RE.match(p.name).group(1)) == wafer)
    except OSError as exc:
        raise CalibInputError(f"cannot read {directory}: {exc.strerror}") from None
    if not files:
        raise CalibInputError(f"no w{wafer}-h<H>.xml files in {directory}")
    for p in files:
        h = int(XML_RE.match(p.name).group(2))
        if h >= safety.WAFER_HICANNS:
            raise CalibInputError(f"{p}: HICANN {h} does not exist (a wafer has HICANNs 0..{safety.WAFER_HICANNS - 1})")
        root = _parse_xml(p)
        rows: dict[str, dict[int, tuple[list[float], tuple[float, float], str]]] = {}
        for ne in root.iter("neuron"):
            i = _int_attr(ne, "id", safety.HICANN_DENMEMS, p, "neuron")
            for te in ne.iter("transformation"):
                param = te.get("parameter") or ""
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", param):
                    raise CalibInputError(f"{p}: transformation of neuron {i} has no valid parameter name")
                kind = te.get("kind", "polynomial")
                if kind not in ("polynomial", "lookup"):
                    raise CalibInputError(f"{p}: transformation kind {kind[:20]!r} of neuron {i} is not "
                                          f"polynomial or lookup")
                try:
                    coeffs = [float(x) for x in (te.text or "").split()[:safety.MAX_COEFFS + 1]]
                    dom = (float(te.get("domain_min")), float(te.get("domain_max")))
                except (TypeError, ValueError):
                    raise CalibInputError(f"{p}: malformed transformation of neuron {i}") from None
                if not 1 <= len(coeffs) <= safety.MAX_COEFFS:
                    raise CalibInputError(f"{p}: transformation {param} of neuron {i} must have 1 to "
                                          f"{safety.MAX_COEFFS} coefficients")
                rows.setdefault(param, {})[i] = (coeffs, dom, kind)
        if len(rows) > 16:
            raise CalibInputError(f"{p}: {len(rows)} transformed parameters (at most 16)")
        for param, by_n in rows.items():
            n = max(by_n) + 1
            k = max(len(c) for c, _, _ in by_n.values())
            co = np.full((n, k), np.nan)
            dm = np.full((n, 2), np.nan)
            for i, (c, d, _) in by_n.items():
                co[i, :len(c)] = c
                dm[i] = d
            cal.data[f"hicann/{h}/{param}/coeffs"] = co
            cal.data[f"hicann/{h}/{param}/domain"] = dm
            cal.attrs[f"hicann/{h}/{param}/coeffs"] = {"kind": next(iter(by_n.values()))[2]}
        cal.blacklist.update(_blacklists(root, p, f"/h{h}"))
    bl = directory / f"w{wafer}-blacklist.xml"
    if os.path.lexists(bl):
        cal.blacklist.update(_blacklists(_parse_xml(bl), bl, ""))
    return cal


def _iso(t) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(float(t)))
    except (TypeError, ValueError):
        return ""
