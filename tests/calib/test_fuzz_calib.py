"""Fuzzing the calibration readers (issue 19): HDF5 store files with random datasets, shapes, dtypes,
attributes, version names and storage (external files, virtual datasets, soft/external links, huge
declared shapes, unknown filters), and calibtic XML with random ids, parameters, blacklists and DTDs.

Whatever the file, reading it either gives a calibration whose every dataset has the hardware's layout
and holds none of a secret file's bytes, or raises one :class:`~nmcluster.errors.UserInputError` whose
one-line message names the file: never another exception (a traceback in the CLI), never a read outside.
The default run tries ``EXAMPLES`` (150) files of each kind (~5 s); ``NMCLUSTER_FUZZ_FULL=1`` runs the
2000 each that issue 19 asks for (the ``slow`` tests below, ~80 s; skipped otherwise so CI stays bounded).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmcluster.calib import safety
from nmcluster.calib.formats import import_xml
from nmcluster.calib.store import CalibStore, _check_calibration
from nmcluster.errors import UserInputError

FULL = 2000
EXAMPLES = 150
full_only = pytest.mark.skipif(os.environ.get("NMCLUSTER_FUZZ_FULL") != "1",
                               reason="2000-example fuzz: set NMCLUSTER_FUZZ_FULL=1")
SECRET = b"S3CR3T-CALIB-"


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def arena() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="nmcluster-fuzzcal-"))
    (base / "secret").write_bytes(SECRET * 4096)
    with h5py.File(base / "other.h5", "w") as fh:
        fh["x"] = np.frombuffer(SECRET * 512, dtype="f8")[:384]
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- HDF5 --------------------------------------------------------------------------------------------
KEYS = ["neurons/g_leak_factor", "neurons/v_thresh_offset", "drivers/driver_factor", "neurons/readout_offset",
        "neurons/x", "drivers/factor_exc", "blob", "notes/raw", "hicann/3/V_t/coeffs", "hicann/3/V_t/domain",
        "hicann/383/g_leak/coeffs", "hicann/999/E_l/domain", "a/b/c/d/e", "neurons/g leak", "drivers/1x",
        "hicann/x/V_t/coeffs"]
SHAPES = [(384,), (512,), (383,), (), (0,), (1,), (10**9,), (512, 3), (512, 2), (10, 0), (3, 3, 3), (400, 1000),
          (384, 1), (2**31,), (17,)]
DTYPES = ["f8", "f4", "i8", "i4", "u1", "?", "S4", "compound", "ref", "vlen", "f2", "c16"]
STORAGE = ["plain", "plain", "plain", "external", "virtual", "soft", "extlink", "chunked", "filter"]
COMPONENTS = ["neuron", "driver", "denmem/h3", "driver/h383", "hicann", "fpga", "synapse_row/h2", "bus",
              "denmem/h999", "Neuron", "../x", "neuron/x/y"]
VERSION_NAMES = ["1", "2", "9" * 12, "1e400", "0", "-1", "01", "x"]
ATTR_VALUES = st.one_of(st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=40),
                        st.binary(max_size=40), st.just("ref"), st.just("bigarray"), st.lists(st.integers(0, 9),
                                                                                              max_size=5))


def _dtype(name: str):
    return {"compound": np.dtype([("a", "f8"), ("b", "i4")]), "ref": h5py.ref_dtype,
            "vlen": h5py.string_dtype()}.get(name, np.dtype(name) if name not in ("compound", "ref", "vlen")
                                               else None)


def _values(dt, shape):
    n = int(np.prod(shape)) if shape else 1
    if n > 500_000 or dt in (h5py.ref_dtype,) or h5py.check_string_dtype(dt) is not None:
        return None
    rng = np.random.default_rng(n)
    if dt.fields is not None:
        return np.zeros(shape, dt)
    if dt.kind == "S":
        return np.full(shape, b"ab", dt)
    return (rng.random(shape) * 400).astype(dt)


def _attr(obj, name: str, value, fh) -> None:
    if value == "ref":
        obj.attrs.create(name, fh.ref)
    elif value == "bigarray":
        obj.attrs.create(name, np.zeros(20_000))
    elif isinstance(value, list):
        obj.attrs[name] = np.asarray(value, dtype="i8")
    else:
        obj.attrs[name] = value


# mostly what the store writes (so the deep checks are reached), the rest anything
VALID = [("neurons/g_leak_factor", (384,)), ("neurons/v_thresh_offset", (384,)), ("drivers/driver_factor", (512,)),
         ("neurons/readout_offset", (384,)), ("blob", (400, 1000)), ("hicann/3/V_t/coeffs", (512, 3)),
         ("hicann/3/V_t/domain", (512, 2)), ("hicann/383/g_leak/coeffs", (40, 4)), ("notes/raw", (17,))]
attr_specs = st.lists(st.tuples(st.sampled_from(["unit", "kind", "x"]), ATTR_VALUES), max_size=2)
dataset_specs = st.one_of(
    st.tuples(st.sampled_from(VALID), st.sampled_from(["f8"] * 4 + ["f4", "i4", "u1", "?"]),
              st.sampled_from(["plain"] * 6 + STORAGE), attr_specs).map(lambda t: (t[0][0], t[0][1], *t[1:])),
    st.tuples(st.sampled_from(KEYS), st.sampled_from(SHAPES), st.sampled_from(DTYPES), st.sampled_from(STORAGE),
              attr_specs))
blacklist_specs = st.one_of(
    st.tuples(st.sampled_from(["neuron", "driver", "denmem/h3", "hicann", "fpga"]),
              st.lists(st.integers(0, 47), max_size=8), st.just("i8")),
    st.tuples(st.sampled_from(COMPONENTS),
              st.lists(st.integers(-3, 2000) | st.sampled_from([0, 383, 384, 511, 512, 2**40]), max_size=8),
              st.sampled_from(["i8", "u2", "f8", "S3"])))
valid_datasets = st.tuples(st.sampled_from(VALID), st.sampled_from(["f8", "f8", "f4", "i4", "u1"]),
                           st.just("plain"), st.just([])).map(lambda t: (t[0][0], t[0][1], *t[1:]))
near_valid_file_specs = st.fixed_dictionaries({  # a file as commit() writes it, with at most one odd part
    "target": st.sampled_from(["station500", "wafer33"]),
    "current": st.just(1),
    "versions": st.just(["1"]),
    "data": st.tuples(st.lists(valid_datasets, min_size=1, max_size=5), st.lists(dataset_specs, max_size=1))
    .map(lambda t: t[0] + t[1]),
    "blacklist": st.lists(st.tuples(st.sampled_from(["neuron", "driver", "denmem/h3", "hicann", "fpga"]),
                                    st.lists(st.integers(0, 47), max_size=8), st.just("i8")), max_size=2),
    "meta": st.just([("notes", "n"), ("parent", 0), ("meta", '{"a": 1}')]),
})
random_file_specs = st.fixed_dictionaries({
    "target": st.sampled_from(["station500", "wafer33"]),
    "current": st.sampled_from([1] * 10 + [0, 2, -1, 2**31, 2**62, "1" + "0" * 400, 1.5, 1e300, "2"]),
    "versions": st.sampled_from([["1"]] * 8 + [["1", "2"], []] + [["1", v] for v in VERSION_NAMES[2:]]),
    "data": st.lists(dataset_specs, max_size=6),
    "blacklist": st.lists(blacklist_specs, max_size=3),
    "meta": st.one_of(st.just([]), st.just([("notes", "n"), ("parent", 0), ("meta", '{"a": 1}')]),
                      st.lists(st.tuples(st.sampled_from(["parent", "created", "notes", "meta", "source"]),
                                         ATTR_VALUES), max_size=3)),
})
file_specs = st.one_of(near_valid_file_specs, random_file_specs)


def _build(path: Path, spec: dict, arena: Path) -> None:
    with h5py.File(path, "w", libver="latest") as fh:
        fh.attrs["target"] = spec["target"]
        vs = fh.create_group("versions")
        for vname in spec["versions"] or ["1"]:
            g = vs.create_group(vname)
            for key, value in spec["meta"]:
                try:
                    _attr(g, key, value, fh)
                except (ValueError, TypeError, OSError):
                    pass  # h5py cannot store it (e.g. NUL in a vlen string)
            data = g.create_group("data")
            for key, shape, dtname, storage, attrs in spec["data"]:
                if key in data:
                    continue
                try:
                    _dataset(fh, data, key, shape, _dtype(dtname), storage, arena)
                    if key in data and isinstance(data.get(key, getlink=True), h5py.HardLink):
                        for an, av in attrs:
                            try:
                                _attr(data[key], an, av, fh)
                            except (ValueError, TypeError, OSError):
                                pass
                except (ValueError, TypeError, OSError, KeyError, RuntimeError):
                    pass  # a combination HDF5 cannot make: leave it out
            bl = g.create_group("blacklist")
            for comp, ids, dt in spec["blacklist"]:
                try:
                    arr = np.asarray(ids).astype(dt) if dt != "S3" else np.asarray([str(i) for i in ids], "S3")
                    bl.create_dataset(comp, data=arr)
                except (ValueError, TypeError, OSError, OverflowError):
                    pass
        cur = spec["current"]
        fh.attrs["current"] = cur if not (isinstance(cur, int) and abs(cur) >= 2**63) else str(cur)


def _dataset(fh, group, key, shape, dt, storage, arena: Path) -> None:
    if storage == "external":
        group.create_dataset(key, shape, dt, external=[(str(arena / "secret"), 0, h5py.h5f.UNLIMITED)])
    elif storage == "virtual":
        layout = h5py.VirtualLayout(shape=(384,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(arena / "other.h5"), "x", shape=(384,))
        group.create_virtual_dataset(key, layout)
    elif storage == "soft":
        fh.require_dataset("/elsewhere", (384,), "f8")
        group[key] = h5py.SoftLink("/elsewhere")
    elif storage == "extlink":
        group[key] = h5py.ExternalLink(str(arena / "other.h5"), "/x")
    elif storage == "chunked" or (shape and int(np.prod(shape)) > 500_000):
        chunks = tuple(max(1, min(s, 1024)) for s in shape) if shape and all(shape) else None
        group.create_dataset(key, shape, dt, chunks=chunks)
    elif storage == "filter":
        group.create_dataset(key, shape, dt, compression=307, allow_unknown_filter=True)
    else:
        values = _values(dt, shape)
        if values is None:
            group.create_dataset(key, shape, dt)
        else:
            group.create_dataset(key, data=values)


def _expect_clean(call, path: Path):
    """``call()``'s value, or None after a one-line UserInputError naming ``path``."""
    try:
        return call()
    except UserInputError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, msg
        assert str(path) in msg, msg
        assert SECRET.decode() not in msg
        return None


def _check_hdf5(spec: dict, arena: Path) -> None:
    store_dir = Path(tempfile.mkdtemp(dir=arena))
    try:
        path = store_dir / f"{spec['target']}.h5"
        _build(path, spec, arena)
        kind = "spikey" if spec["target"].startswith("station") else "wafer"
        store = CalibStore(store_dir, admin_group="")
        cur = _expect_clean(lambda: store.current(spec["target"]), path)
        assert cur is None or 1 <= cur <= safety.MAX_VERSION
        versions = _expect_clean(lambda: store.versions(spec["target"]), path)
        for v in versions or ():
            assert 1 <= v["version"] <= safety.MAX_VERSION
        cal = _expect_clean(lambda: store.read(spec["target"]), path)
        if cal is not None:
            for key, arr in cal.data.items():
                check = safety.data_shape_check(kind, key)
                assert check is not None and check(arr.shape) == "", (key, arr.shape)
                assert arr.dtype.kind in "biuf"
                assert SECRET not in arr.tobytes()
            for comp, ids in cal.blacklist.items():
                limit = safety.blacklist_limit(kind, comp)
                assert limit is not None and (ids.size == 0 or (0 <= ids.min() and ids.max() < limit))
            _check_calibration(cal, kind)  # what was read may be committed again
            if kind == "spikey":
                from nmcluster.calib.spikey import to_station_calibration

                sc = None
                try:
                    sc = to_station_calibration(cal)
                except UserInputError as exc:
                    assert "\n" not in str(exc) and spec["target"] in str(exc)
                if sc is not None:
                    assert sc.g_leak_factor.shape == (384,) and sc.driver_factor.shape == (512,)
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)


@fuzz(EXAMPLES)
@given(spec=file_specs)
def test_fuzz_hdf5_store_files(arena, spec):
    _check_hdf5(spec, arena)


@pytest.mark.slow
@full_only
@fuzz(FULL)
@given(spec=file_specs)
def test_fuzz_hdf5_store_files_full(arena, spec):
    _check_hdf5(spec, arena)


# -- calibtic XML ------------------------------------------------------------------------------------
good_float = st.floats(-1e4, 1e4, allow_nan=False).map(repr)
attr_text = st.one_of(st.integers(0, 511).map(str), st.integers(0, 511).map(str), st.integers(-5, 600).map(str), st.sampled_from(["1" + "0" * 400, "x", "", " 3 ", "1e3",
                                                                      "0x10", "٣"]),
                      st.text(max_size=8))
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["a", "", "1e999"]))
transformations = st.one_of(
    st.tuples(st.sampled_from(["V_t", "E_l", "g_leak"]), good_float, good_float, st.lists(good_float, min_size=1,
                                                                                          max_size=4),
              st.sampled_from(["polynomial", "lookup"])),
    st.tuples(st.sampled_from(["V_t", "E_l", "g_leak", "", "bad name", "x" * 70]) | st.text(max_size=6),
              numbers, numbers, st.lists(numbers, max_size=20), st.sampled_from(["polynomial", "lookup", "evil"])))
neurons = st.tuples(st.one_of(attr_text, st.none()), st.lists(transformations, max_size=3))
blacklists = st.one_of(
    st.tuples(st.sampled_from(["denmem", "driver", "synapse_row"]),
              st.lists(st.integers(0, 200).map(str), max_size=8).map(" ".join)),
    st.tuples(st.one_of(st.sampled_from(["denmem", "driver", "hicann", "fpga", "synapse_row", "../x", "A", ""]),
                        st.text(max_size=6), st.none()),
              st.one_of(st.lists(st.integers(-3, 1000).map(str), max_size=8).map(" ".join), st.text(max_size=12))))
heads = st.sampled_from([""] * 6 + ['<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>',
                         '<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>', '<!DOCTYPE calibtic>'])
valid_transformations = st.tuples(st.sampled_from(["V_t", "E_l", "g_leak"]), good_float, good_float,
                                  st.lists(good_float, min_size=1, max_size=4), st.sampled_from(["polynomial", "lookup"]))
valid_xml_specs = st.fixed_dictionaries({  # what export_xml writes, with at most one odd neuron or blacklist
    "hicann": st.sampled_from([0, 3, 383]),
    "head": st.just(""),
    "neurons": st.tuples(st.lists(st.tuples(st.integers(0, 511).map(str), st.lists(valid_transformations, max_size=3)),
                                  min_size=1, max_size=6), st.lists(neurons, max_size=1)).map(lambda t: t[0] + t[1]),
    "blacklists": st.lists(st.tuples(st.sampled_from(["denmem", "driver", "synapse_row"]),
                                     st.lists(st.integers(0, 200).map(str), max_size=8).map(" ".join)), max_size=2),
    "wafer_blacklist": st.none(),
    "raw": st.none(),
    "entity_use": st.just(False),
})
random_xml_specs = st.fixed_dictionaries({
    "hicann": st.sampled_from([0, 3, 383, 3, 0, 384, 999]),
    "head": heads,
    "neurons": st.lists(neurons, max_size=6),
    "blacklists": st.lists(blacklists, max_size=3),
    "wafer_blacklist": st.one_of(st.none(), st.none(), st.lists(blacklists, max_size=2)),
    "raw": st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=60)),
    "entity_use": st.booleans(),
})
xml_specs = st.one_of(valid_xml_specs, random_xml_specs)


def _xml_text(spec: dict, secret: Path) -> bytes:
    if spec["raw"] is not None:
        return spec["raw"]
    parts = []
    for nid, trans in spec["neurons"]:
        attrs = f" id={quoteattr(nid)}" if nid is not None else ""
        inner = "".join(f"<transformation parameter={quoteattr(p)} kind={quoteattr(k)} domain_min={quoteattr(lo)} "
                        f"domain_max={quoteattr(hi)}>{escape(' '.join(cs))}</transformation>"
                        for p, lo, hi, cs, k in trans)
        parts.append(f"<neuron{attrs}>{inner}</neuron>")
    for comp, ids in spec["blacklists"]:
        attrs = f" component={quoteattr(comp)}" if comp is not None else ""
        parts.append(f"<blacklist{attrs}>{escape(ids)}</blacklist>")
    body = "".join(parts) + ("&x;" if spec["entity_use"] and "ENTITY x" in spec["head"] else "")
    head = spec["head"].replace("{secret}", str(secret))
    return f'<?xml version="1.0"?>{head}<calibtic wafer="33">{body}</calibtic>'.encode("utf-8", "surrogatepass")


def _check_xml(spec: dict, arena: Path) -> None:
    d = Path(tempfile.mkdtemp(dir=arena))
    try:
        (d / f"w33-h{spec['hicann']}.xml").write_bytes(_xml_text(spec, arena / "secret"))
        if spec["wafer_blacklist"] is not None:
            wb = "".join(f"<blacklist component={quoteattr(c or '')}>{escape(i)}</blacklist>"
                         for c, i in spec["wafer_blacklist"])
            (d / "w33-blacklist.xml").write_text(f"<calibtic>{wb}</calibtic>")
        try:
            cal = import_xml(d, 33)
        except UserInputError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg and str(d) in msg, msg
            assert SECRET.decode() not in msg
            return
        _check_calibration(cal, "wafer")  # the store accepts what an import gives
        for arr in cal.data.values():
            assert SECRET not in arr.tobytes()
        assert spec["hicann"] < safety.WAFER_HICANNS
    finally:
        shutil.rmtree(d, ignore_errors=True)


@fuzz(EXAMPLES)
@given(spec=xml_specs)
def test_fuzz_calibtic_xml(arena, spec):
    _check_xml(spec, arena)


@pytest.mark.slow
@full_only
@fuzz(FULL)
@given(spec=xml_specs)
def test_fuzz_calibtic_xml_full(arena, spec):
    _check_xml(spec, arena)
