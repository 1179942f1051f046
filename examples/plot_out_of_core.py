"""
=======================================
Out-of-core fit of a memory-mapped file
=======================================

EM needs only a few sums over the data per iteration, so gmmc can fit data
that do not fit in memory: give :meth:`~gmmc.GaussianMixture.fit` a
``numpy.memmap`` (or an h5py or zarr array, or any row-sliceable array
wrapped in :class:`gmmc.RowBlocks`) and it reads the rows in blocks, adding
up each block's :class:`~gmmc.SufficientStatistics`. Only about two blocks
are in memory at a time, and the model is the one the in-memory fit gives,
up to the order of floating-point sums.

The file here is small (200 000 rows of 4 features, 6.4 MB) so that the
example runs quickly; blocks of 20 000 rows make it stream in ten pieces.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import gmmc
from gmmc import plot

rng = np.random.RandomState(0)
folder = tempfile.mkdtemp()
path = os.path.join(folder, "big.npy")

# Write the data to disk in pieces, as one would for data larger than memory.
n_rows, n_features = 200_000, 4
centres = rng.normal(scale=3.0, size=(5, n_features))
out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                shape=(n_rows, n_features))
for start in range(0, n_rows, 50_000):
    labels = rng.randint(0, 5, 50_000)
    out[start:start + 50_000] = centres[labels] + rng.normal(size=(50_000, n_features))
out.flush()
del out

X = np.load(path, mmap_mode="r")          # nothing is read yet
# A k-means++ start and a small tol make a long EM path worth comparing.
settings = dict(init_params="k-means++", tol=1e-6, random_state=0)
streamed = gmmc.GaussianMixture(5, **settings).fit(gmmc.RowBlocks(X, block_rows=20_000))
in_memory = gmmc.GaussianMixture(5, **settings).fit(np.asarray(X))
print(f"streamed:  {streamed.n_iter_} iterations, mean log-likelihood "
      f"{streamed.lower_bound_:.6f}")
print(f"in memory: {in_memory.n_iter_} iterations, mean log-likelihood "
      f"{in_memory.lower_bound_:.6f}")
print(f"largest difference between the means: "
      f"{np.abs(streamed.means_ - in_memory.means_).max():.1e}")

# %%
# The two fits follow the same path, iteration by iteration. The left panel
# shows how far each iteration's mean log-likelihood is below the final one
# (from the second iteration: the first is that of the k-means++ seeds, far
# below); the right panel shows the streamed model on the first two features
# over a sample of rows.

final = in_memory.lower_bound_
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for model, style, label in [(streamed, dict(marker="o"), "streamed from the memmap"),
                            (in_memory, dict(marker="x", linestyle="--"), "in memory")]:
    gap = final - np.array(model.lower_bounds_[1:-1])
    axes[0].plot(np.arange(2, model.n_iter_), gap, label=label, **style)
axes[0].set_yscale("log")
axes[0].set_xlabel("EM iteration")
axes[0].set_ylabel("final minus current mean log-likelihood")
axes[0].legend()
axes[0].set_title("the same EM path")
sample = np.asarray(X[::100])
plot.ellipses(streamed, sample, ax=axes[1], title="streamed model (every 100th row)")
plt.show()

os.remove(path)
os.rmdir(folder)
