"""Data sets shipped with gmmc."""
from importlib import resources

import numpy as np


def load_faithful():
    """Old Faithful geyser eruptions: (272, 2) array of [duration (min), waiting (min)].

    The classic two-cluster data set of Gaussian mixture teaching (Azzalini and
    Bowman 1990; Haerdle 1991). Public domain.
    """
    with resources.files("gmmc").joinpath("data/faithful.csv").open() as f:
        return np.loadtxt(f, delimiter=",", skiprows=1)
