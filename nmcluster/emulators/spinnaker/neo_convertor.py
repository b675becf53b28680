"""sPyNNaker's ``spynnaker.pyNN.utilities.neo_convertor`` for the emulator's results: Neo data
as the old sPyNNaker 7 numpy layouts (rows ``[id, time]`` for spikes, ``[id, time, value]`` for
signals), so scripts that post-process with these helpers run unchanged.  Same functions and
results as sPyNNaker 7.4.1's module (written anew here, from its documented behaviour)."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np


def _channel_ids(signal) -> np.ndarray:
    ann = getattr(signal, "array_annotations", {}) or {}
    for key in ("channel_index", "channel_names"):
        if key in ann:
            return np.asarray(ann[key])
    if "channel_names" in signal.annotations:
        return np.asarray(signal.annotations["channel_names"])
    return np.arange(signal.shape[1])


def convert_analog_signal(signal_array, time_unit=None) -> np.ndarray:
    """One AnalogSignal as rows ``[id, time, value]``, neuron by neuron."""
    ids = _channel_ids(signal_array)
    times = signal_array.times.rescale(time_unit or "ms").magnitude  # a unit name: no quantities import
    mag = np.asarray(signal_array.magnitude)
    return np.column_stack((np.repeat(ids, len(times)), np.tile(times, len(ids)),
                            np.concatenate([mag[:, x] for x in range(len(ids))])
                            if len(ids) else np.zeros(0)))


def convert_data(data, name: str, run: int = 0) -> np.ndarray:
    """Variable ``name`` of segment ``run`` as rows ``[id, time, value]`` (spikes:
    ``[id, time]``)."""
    if len(data.segments) <= run:
        raise ValueError(f"Data only contains {len(data.segments)} so unable to run {run}. "
                         f"Note run is the zero based index.")
    if name == "all":
        raise ValueError("Unable to convert all data in one go as result would be comparing "
                         "apples and oranges.")
    if name == "spikes":
        return convert_spikes(data, run)
    return convert_analog_signal(data.segments[run].filter(name=name)[0])


def convert_data_list(data, name: str, runs: Optional[Sequence[int]] = None) -> List[np.ndarray]:
    return [convert_data(data, name, run=r) for r in (range(len(data.segments))
                                                       if runs is None else runs)]


def convert_v_list(data, runs=None) -> List[np.ndarray]:
    return convert_data_list(data, "v", runs=runs)


def convert_gsyn_exc_list(data, runs=None) -> List[np.ndarray]:
    return convert_data_list(data, "gsyn_exc", runs=runs)


def convert_gsyn_inh_list(data, runs=None) -> List[np.ndarray]:
    return convert_data_list(data, "gsyn_inh", runs=runs)


def convert_gsyn(gsyn_exc, gsyn_inh) -> np.ndarray:
    """Rows ``[id, time, gsyn_exc, gsyn_inh]`` of the first segment."""
    exc = convert_data(gsyn_exc, "gsyn_exc")
    inh = convert_data(gsyn_inh, "gsyn_inh")
    if exc.shape != inh.shape or not np.allclose(exc[:, :2], inh[:, :2]):
        raise ValueError("IDs or times in gsyn_exc and gsyn_inh do not match")
    return np.column_stack((exc, inh[:, 2]))


def convert_spiketrains(spiketrains) -> np.ndarray:
    """Spike trains as rows ``[id, time]``."""
    if len(spiketrains) == 0:
        return np.empty(shape=(0, 2))
    ids = np.concatenate([np.repeat(st.annotations["source_index"], len(st))
                          for st in spiketrains])
    times = np.concatenate([st.magnitude for st in spiketrains])
    return np.column_stack((ids, times))


def convert_spikes(neo, run: int = 0) -> np.ndarray:
    if len(neo.segments) <= run:
        raise ValueError(f"Data only contains {len(neo.segments)} so unable to run {run}. "
                         f"Note run is the zero based index.")
    return convert_spiketrains(neo.segments[run].spiketrains)


def count_spiketrains(spiketrains) -> int:
    return int(sum(len(st) for st in spiketrains))


def count_spikes(neo) -> int:
    """Spikes in all segments."""
    return int(sum(count_spiketrains(seg.spiketrains) for seg in neo.segments))
