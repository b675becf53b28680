# Python 3 form of printed/marocco_none_backend.py (guidebook 4.2.2): PyMarocco.None -> PyMarocco.Without.
import pyhmf as pynn
from pymarocco import PyMarocco

marocco = PyMarocco()
marocco.backend = PyMarocco.Without

pynn.setup(marocco=marocco)

neuron = pynn.Population(1, pynn.IF_cond_exp, {})

pynn.run(10)
pynn.end()
