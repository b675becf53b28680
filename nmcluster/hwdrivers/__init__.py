"""Driver layers: what hardware exists and is usable (Spikey USB stations, wafers, SpiNNaker boards)."""
