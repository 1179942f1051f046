"""Data sets shipped with gmmc."""
from importlib import resources

import numpy as np


def load_faithful():
    """Load the Old Faithful geyser eruptions data set.

    The classic two-cluster data set of Gaussian mixture teaching (Azzalini and
    Bowman 1990; Haerdle 1991): 272 eruptions of the Old Faithful geyser in
    Yellowstone National Park. Public domain; shipped with gmmc.

    Returns
    -------
    ndarray of shape (272, 2)
        Columns: eruption duration and waiting time to the next eruption,
        both in minutes (float64).

    See Also
    --------
    GaussianMixture : Fit a mixture to it.

    Examples
    --------
    >>> import gmmc
    >>> X = gmmc.load_faithful()
    >>> X.shape
    (272, 2)
    >>> print(X[:2])
    [[ 3.6 79. ]
     [ 1.8 54. ]]
    """
    with resources.files("gmmc").joinpath("data/faithful.csv").open() as f:
        return np.loadtxt(f, delimiter=",", skiprows=1)
