"""Shared helpers of the example benchmarks (the guidebook's style, chapter 7.1.2): pick the backend named
on the command line, time the phases, write the measurement report."""

import importlib
import json
import sys
import time
from datetime import datetime


def simulator():
    """``python run_x.py <backend>``: the PyNN backend ``pyNN.<backend>`` ({system} of benchmarks.json)."""
    name = sys.argv[1] if len(sys.argv) > 1 else "nest"
    return name, importlib.import_module(f"pyNN.{name}")


def cell_type(sim):
    """A conductance-based IF neuron every platform offers (Spikey: its hardware neuron)."""
    return getattr(sim, "IF_facets_hardware1", None) or sim.IF_cond_exp


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.marks = {}

    def mark(self, name):
        now = time.perf_counter()
        self.marks[name] = now - self.t0
        self.t0 = now


def write_report(model, task, backend, results, timer, configuration):
    for name, value in timer.marks.items():
        results.append({"type": "performance", "name": name, "value": value, "units": "s", "measure": "time"})
    report = {"model": model, "task": task, "timestamp": datetime.now().isoformat(), "results": results,
              "configuration": {"backend": backend, **configuration}}
    with open(f"{task}_report.json", "w") as fh:
        json.dump(report, fh, indent=1)
