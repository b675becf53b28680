#!/usr/bin/env python
"""Spikey school, lesson 5 (guidebook 5.2.7, Fig. 5.15): depressing short-term plasticity.

As in lesson 1-2 (single EPSPs), a neuron receives a train of input spikes from a group of spike
sources, here through a line driver with depressing STP (Tsodyks-Markram-like; on Spikey either
depressing or facilitating).  Its membrane is recorded; the height of each EPSP shrinks during the
train and recovers after a pause.  Written for the Spikey software's PyNN 0.7 API
(``pyNN.hardware.spikey``, ``SynapseDynamics(fast=TsodyksMarkramMechanism(...))``, ``record_v()``,
``get_v()``); the guidebook describes this lesson but does not print its code.
"""

import numpy as np
import pyNN.hardware.spikey as pynn

noStims = 8                                   # synchronous sources (averages synapse noise)
train = [100.0 + 25.0 * i for i in range(8)]  # 40 Hz train ...
train += [train[-1] + 800.0]                  # ... and a test spike after recovery
runtime = train[-1] + 200.0

pynn.setup()
stimuli = pynn.Population(noStims, pynn.SpikeSourceArray, {'spike_times': train})
neuron = pynn.Population(1, pynn.IF_facets_hardware1, {'v_thresh': -40.0})
depression = pynn.SynapseDynamics(fast=pynn.TsodyksMarkramMechanism(U=0.5, tau_rec=200.0,
                                                                    tau_facil=0.0))
pynn.Projection(stimuli, neuron, pynn.AllToAllConnector(weights=8 * pynn.minExcWeight()),
                target='excitatory', synapse_dynamics=depression)
neuron.record_v()
pynn.run(runtime)
v = neuron.get_v()  # rows: index, t, v
pynn.end()

t, mem = v[:, 1], v[:, 2]
heights = []
for ts in train:
    base = mem[(t >= ts - 2.0) & (t < ts)].mean()
    peak = mem[(t >= ts) & (t < ts + 20.0)].max()
    heights.append(peak - base)
for ts, h in zip(train, heights):
    print('EPSP at %7.1f ms: %5.2f mV' % (ts, h))
np.savetxt('lesson5_epsp_heights.txt', np.column_stack([train, heights]), fmt='%g')
