"""Complex -> real embedding for Hermitian SDPs in cvxpy / cvxpylayers.

cvxpylayers cannot take complex Parameters, so every complex Hermitian quantity of paper 000's
SDPs is carried in its real embedding

    M = A + jB  (A = A^T, B = -B^T)   ->   M_r = [[A, -B], [B, A]]   (2n x 2n, symmetric),

and every complex vector v in [Re v; Im v] (2n,). The map is a *-algebra homomorphism, so

* M >= 0  <=>  M_r >= 0  (the spectrum of M_r is that of M, each eigenvalue twice);
* tr(M_r) = 2 Re tr(M), and Re tr(G W) = tr(G_r^T W_r) / 2 (the factor 1/2 is NOT optional);
* v^H M v = v_r^T M_r v_r, (M v)_r = M_r v_r, ||M||_F^2 = ||M_r||_F^2 / 2 = ||M_r[:, :n]||_F^2.

DPP note (cvxpylayers): v^H W v with v a Parameter and W a Variable is param*var*param and not
DPP; pass G = v v^H as an embedded Parameter and use `real_trace_product(G_r, W_r)` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "HermitianVariable",
    "hermitian_variable",
    "embed_complex_matrix",
    "embed_complex_vector",
    "embedded_blocks",
    "real_trace_product",
    "complex_lmi",
    "hermitian_from_embedded",
    "hermitian_from_layer",
    "complex_from_embedded_vector",
]


@dataclass(frozen=True)
class HermitianVariable:
    """A complex Hermitian n x n cvxpy variable W = re + j*im, held as real parts.

    Attributes:
        re: (n, n) symmetric cvxpy Variable, Re W.
        im: (n, n) skew-symmetric cvxpy expression, Im W (built from n(n-1)/2 free entries, so
            no equality constraints are needed).
        embedded: (2n, 2n) symmetric expression [[re, -im], [im, re]].
        n: size of the complex matrix.
    """

    re: cp.Variable
    im: cp.Expression
    embedded: cp.Expression
    n: int
    im_free: cp.Variable | None = None

    @property
    def layer_variables(self) -> list:
        """The cvxpy Variables to request from a CvxpyLayer (re, and the free entries of im);
        rebuild the matrix from the layer outputs with `hermitian_from_layer`."""
        return [self.re] if self.im_free is None else [self.re, self.im_free]

    def value(self) -> np.ndarray:
        """Complex (n, n) value after a solve."""
        im = self.im.value if isinstance(self.im, cp.Expression) else self.im
        return np.asarray(self.re.value) + 1j * np.asarray(im)


def hermitian_variable(n: int, name: str = "W") -> HermitianVariable:
    """Complex Hermitian (n, n) decision variable in real-embedded form.

    Im W is parametrised as T - T^T with T strictly upper triangular, so the (2n, 2n) block
    `embedded` has the embedding structure by construction (no block equalities) and cvxpy's
    PSD cone sees an exactly symmetric argument.
    """
    re = cp.Variable((n, n), symmetric=True, name=f"{name}_re")
    if n > 1:
        v = cp.Variable(n * (n - 1) // 2, name=f"{name}_im")
        t = cp.vec_to_upper_tri(v, strict=True)
        im = t - t.T
    else:
        im = cp.Constant(np.zeros((1, 1)))
    emb = cp.bmat([[re, -im], [im, re]])
    return HermitianVariable(re=re, im=im, embedded=emb, n=n, im_free=v if n > 1 else None)


def _skew_from_free(v, n):
    # cp.vec_to_upper_tri(strict=True) fills the strict upper triangle in row-major order.
    rows, cols = np.triu_indices(n, k=1)
    if isinstance(v, jax.Array):
        T = jnp.zeros((n, n), v.dtype).at[rows, cols].set(v)
    else:
        T = np.zeros((n, n), np.asarray(v).dtype)
        T[rows, cols] = np.asarray(v)
    return T - T.T


def hermitian_from_layer(re, im_free=None):
    """Complex Hermitian (n, n) matrix from CvxpyLayer outputs of `layer_variables`.

    JAX in, JAX out (differentiable); NumPy in, NumPy out.
    """
    n = re.shape[0]
    if im_free is None:
        return re + 0j
    return re + 1j * _skew_from_free(im_free, n)


def _is_cvx(x) -> bool:
    return isinstance(x, cp.Expression)


def embed_complex_matrix(M):
    """Real embedding [[Re M, -Im M], [Im M, Re M]] of a complex (n, m) matrix.

    Accepts a NumPy array, a JAX array (returns a JAX array, differentiable), a cvxpy
    expression (complex or real), or a pair `(re, im)` of any of these.
    """
    if isinstance(M, tuple):
        re, im = M
        if _is_cvx(re) or _is_cvx(im):
            return cp.bmat([[re, -im], [im, re]])
        if isinstance(re, jax.Array) or isinstance(im, jax.Array):
            re, im = jnp.asarray(re), jnp.asarray(im)
            return jnp.block([[re, -im], [im, re]])
        re, im = np.asarray(re), np.asarray(im)
        return np.block([[re, -im], [im, re]])
    if _is_cvx(M):
        re, im = cp.real(M), cp.imag(M)
        return cp.bmat([[re, -im], [im, re]])
    if isinstance(M, jax.Array):
        re, im = jnp.real(M), jnp.imag(M)
        return jnp.block([[re, -im], [im, re]])
    M = np.asarray(M)
    re, im = M.real, M.imag
    return np.block([[re, -im], [im, re]])


def embed_complex_vector(v):
    """[Re v; Im v] (2n,) for a complex (n,) NumPy/JAX array."""
    if isinstance(v, jax.Array):
        return jnp.concatenate([jnp.real(v), jnp.imag(v)])
    v = np.asarray(v)
    return np.concatenate([v.real, v.imag])


def complex_from_embedded_vector(v_r):
    """Inverse of `embed_complex_vector`."""
    n = v_r.shape[0] // 2
    return v_r[:n] + 1j * v_r[n:]


def embedded_blocks(M_r):
    """(Re M, Im M) read off an embedded (2n, 2n) matrix or expression (left block column)."""
    n = M_r.shape[0] // 2
    return M_r[:n, :n], M_r[n:, :n]


def real_trace_product(G_r, W_r):
    """Re tr(G W) from the embeddings: tr(G_r^T W_r) / 2.

    Works for NumPy/JAX arrays and for cvxpy expressions (affine in W_r if G_r is a constant or
    a Parameter, hence DPP). For Hermitian G and W the trace is real and this is tr(G W).
    """
    if _is_cvx(G_r) or _is_cvx(W_r):
        return 0.5 * cp.sum(cp.multiply(G_r.T, W_r))
    if isinstance(G_r, jax.Array) or isinstance(W_r, jax.Array):
        return 0.5 * jnp.sum(jnp.asarray(G_r).T * jnp.asarray(W_r))
    return 0.5 * float(np.sum(np.asarray(G_r).T * np.asarray(W_r)))


def complex_lmi(M_re, M_im) -> cp.Constraint:
    """The complex LMI  M_re + j M_im >= 0  as the real LMI [[M_re, -M_im], [M_im, M_re]] >= 0.

    M_re must be symmetric and M_im skew-symmetric (i.e. M Hermitian). cvxpy's PSD constraint
    acts on the symmetric part of its argument, which is the embedding of the Hermitian part of
    M; for Hermitian M that is M itself.
    """
    return cp.bmat([[M_re, -M_im], [M_im, M_re]]) >> 0


def hermitian_from_embedded(M_r) -> np.ndarray:
    """Complex (n, n) matrix from a solved embedded value (averages the duplicated blocks)."""
    M_r = np.asarray(M_r.value if _is_cvx(M_r) else M_r)
    n = M_r.shape[0] // 2
    re = 0.5 * (M_r[:n, :n] + M_r[n:, n:])
    im = 0.5 * (M_r[n:, :n] - M_r[:n, n:])
    return re + 1j * im
