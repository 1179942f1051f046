"""scikit-learn's private GaussianMixture methods, for the code that calls them.

scikit-learn's own tests, and libraries built on its mixtures, call methods
such as ``_e_step``, ``_m_step``, ``_initialize`` or ``_estimate_log_prob``
on instances. gmmc's fit does not go through them (its E- and M-steps are
fused kernels over sufficient statistics); these give the same results in
scikit-learn's shapes, in plain NumPy, for such callers.
"""
import numpy as np
from scipy.special import logsumexp

from . import _init
from ._parallel import effective_n_threads


def log_gaussian_prob(X, means, precisions_cholesky, covariance_type):
    """(N, K) log N(x_n | mean_k, cov_k) from the precision Cholesky factors."""
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    u = np.asarray(precisions_cholesky, dtype=np.float64)
    n_components, n_features = means.shape
    out = np.empty((X.shape[0], n_components))
    for k in range(n_components):
        diff = X - means[k]  # centred first: no E[x^2] - E[x]^2 cancellation
        if covariance_type == "full":
            y, log_det = diff @ u[k], np.log(np.diag(u[k])).sum()
        elif covariance_type == "tied":
            y, log_det = diff @ u, np.log(np.diag(u)).sum()
        elif covariance_type == "diag":
            y, log_det = diff * u[k], np.log(u[k]).sum()
        else:
            y, log_det = diff * u[k], n_features * np.log(u[k])
        out[:, k] = log_det - 0.5 * (n_features * np.log(2 * np.pi)
                                     + np.einsum("ij,ij->i", y, y))
    return out


class SklearnPrivateMethods:
    """Mixed into GaussianMixture: scikit-learn's private instance methods."""

    def _estimate_log_prob(self, X):
        return log_gaussian_prob(X, self.means_, self.precisions_cholesky_,
                                 self.covariance_type).astype(self.means_.dtype)

    def _estimate_log_weights(self):
        return self._log_weight_terms().astype(self.means_.dtype)

    def _estimate_weighted_log_prob(self, X):
        return self._estimate_log_prob(X) + self._estimate_log_weights()

    def _estimate_log_prob_resp(self, X):
        weighted = self._estimate_weighted_log_prob(X)
        log_prob_norm = logsumexp(weighted, axis=1)
        with np.errstate(under="ignore"):
            log_resp = weighted - log_prob_norm[:, None]
        return log_prob_norm, log_resp

    def _e_step(self, X):
        log_prob_norm, log_resp = self._estimate_log_prob_resp(X)
        return np.mean(log_prob_norm), log_resp

    def _statistics_of(self, X, resp):
        X = np.ascontiguousarray(X)
        return X, _init.ArrayResponsibilities(np.asarray(resp)).statistics(
            X, None, self.covariance_type, effective_n_threads(self.n_threads))

    def _m_step(self, X, log_resp):
        X, stats = self._statistics_of(X, np.exp(log_resp))
        self._set_parameters(self._m_step_parameters(stats, X.dtype))

    def _initialize(self, X, resp):
        # As scikit-learn's: the given inits are used as they are, unchecked.
        X, stats = self._statistics_of(X, resp)
        inits = [None if value is None else np.asarray(value, dtype=np.float64)
                 for value in (self.weights_init, self.means_init, self.precisions_init)]
        self._set_parameters(self._start_from(stats, X.dtype, *inits))

    def _initialize_parameters(self, X, random_state):
        X = np.ascontiguousarray(X)
        inits = self._check_parameters(X.shape[1])
        n_threads = effective_n_threads(self.n_threads)
        stats = _init.initial_responsibilities(
            X, None, self.n_components, self.init_params, random_state,
            n_threads).statistics(X, None, self.covariance_type, n_threads)
        self._set_parameters(self._start_from(stats, X.dtype, *inits))

    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _compute_lower_bound(self, _, log_prob_norm):
        return log_prob_norm
