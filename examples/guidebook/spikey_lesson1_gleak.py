#!/usr/bin/env python
"""Spikey school, lesson 1-1 (guidebook 5.2.3, Fig. 5.6): the firing rate of neurons in dependence
on their leak conductance g_leak.

A population of neurons is stimulated by a population of Poisson spike sources (each neuron gets a
fixed number of them), averaging out fixed-pattern noise; the mean output rate is measured for a
range of g_leak.  The membrane time constant is not calibrated here (calibTauMem=False), so g_leak
is the chip's raw value.  Written for the Spikey software's PyNN 0.7 API (``pyNN.hardware.spikey``:
IF_facets_hardware1, weights= in the connector, target=, record(), getSpikes()); the guidebook
describes this lesson but does not print its code.
"""

import numpy as np
import pyNN.hardware.spikey as pynn

noStims = 32          # Poisson spike sources on the host
noNeurons = 32        # hardware neurons
noInputs = 12         # sources connected to each neuron
weight = 7.0          # synaptic weight in digital levels (0..15)
rateStim = 20.0       # rate of each source in 1/s
runtime = 5 * 1000.0  # biological ms
gLeakList = [10.0, 20.0, 40.0, 80.0]  # nS

rates = []
for gLeak in gLeakList:
    pynn.setup(calibTauMem=False)
    stimuli = pynn.Population(noStims, pynn.SpikeSourcePoisson,
                              {'start': 0, 'duration': runtime, 'rate': rateStim})
    neurons = pynn.Population(noNeurons, pynn.IF_facets_hardware1, {'g_leak': gLeak})
    pynn.Projection(stimuli, neurons,
                    pynn.FixedNumberPreConnector(noInputs, weights=weight * pynn.minExcWeight()),
                    target='excitatory')
    neurons.record()
    pynn.run(runtime)
    spikes = neurons.getSpikes()
    rate = len(spikes) / float(noNeurons) / (runtime / 1000.0)
    rates.append(rate)
    print('g_leak %5.1f nS: %6.2f spikes/s' % (gLeak, rate))
    pynn.end()

np.savetxt('lesson1_rates.txt', np.column_stack([gLeakList, rates]), fmt='%g')
