"""Control functions shared by the emulator backends."""

from __future__ import annotations

from pyNN.recording import get_io


def build_end(simulator):
    """``end()``: write data requested with ``record(..., to_file=...)`` and call the state's
    ``on_end()`` hook (if any)."""

    def end(compatible_output: bool = True) -> None:
        state = simulator.state
        for population, variables, filename in state.write_on_end:
            population.write_data(get_io(filename), variables)
        state.write_on_end = []
        hook = getattr(state, "on_end", None)
        if hook is not None:
            hook()

    return end
