"""Examples a config can name by import path (e.g. ``circuit: hqnn_pl.examples.circuits.x``)."""
