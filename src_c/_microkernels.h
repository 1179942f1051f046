/* AVX-512 micro-kernels for the per-component path of full covariances, the
 * statistics pass of wider diag and spherical mixtures (gmmc_diag_pass), and
 * k-means' distances (k-means++'s candidates, Lloyd's assignment).
 *
 * For one component with upper-triangular precision factor U, the E-step
 * needs ||(x_i - mu) U||^2 for every row and the M-step the Gram matrix
 * sum_i z_i z_i^T of the weighted, centred rows z_i = sqrt(r_i) (x_i - ref).
 * BLAS does these as trmm + a pass over the product, and syrk; at D <= 64
 * OpenBLAS runs them at 50-60 % of its GEMM speed. Here each is one
 * register-blocked loop with 16 accumulators that skips, vector by vector,
 * U's zero triangle (E-step) or the Gram matrix's lower one (M-step), and the
 * E-step squares its products in registers instead of storing them.
 *
 * U is stored (dp, dp) and the Gram's rows `dp` values apart, dp a multiple
 * of the vector width (8 doubles, 16 floats), with zeros past D, so no loop
 * over columns has a tail. The E-step centres the rows of X as it reads them.
 * The kernels are compiled for AVX-512F only and called when the CPU has it
 * (gmmc_have_avx512); elsewhere the BLAS path runs. Measured on one core at
 * D = 64: 45-49 GFLOP/s of useful work for the quadratic forms (trmm: 31) and
 * 50 for the Gram matrix (syrk: 27), against a 52 GFLOP/s DGEMM peak (AMD
 * EPYC). On an Intel Xeon (78-80 GFLOP/s DGEMM peak; its 512-bit multiply-adds
 * share a port with shuffles) the quadratic forms went from 39-49 to 52-63
 * GFLOP/s once their rows were centred into a buffer and broadcast from memory
 * rather than centred in a register and broadcast from there, and to 57-65
 * with 6 rows at a time; the Gram matrix runs at 72-77.
 */
#ifndef GMMC_MICROKERNELS_H
#define GMMC_MICROKERNELS_H

#include <stdint.h>
#include <string.h>

#include "_vectorized.h"

/* x86-64 Linux with GCC or Clang: __builtin_cpu_supports needs the compiler
 * runtime's CPU model, which is not linked everywhere else (e.g. macOS). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__)
#define GMMC_AVX512_KERNELS 1
#include <immintrin.h>
#else
#define GMMC_AVX512_KERNELS 0
#endif

/* Register blocks: rows of X by vectors of columns for the quadratic forms
 * (24 accumulators: 6 x 4 measured 8 % faster than 4 x 4 at D = 32 and 64),
 * rows by vectors of the Gram matrix (16; its diagonal tiles waste less, and
 * 8 x 2 measured 10-28 % faster than 4 x 4). */
#define GMMC_MK_ROWS 6
#define GMMC_MK_VECS 4
#define GMMC_GRAM_ROWS 8
#define GMMC_GRAM_VECS 2

/* What gmmc_lloyd_bounded_rows_* needs of a pass besides its rows: how the
 * centres moved since the bounds were set, how far apart they are, and how
 * much rounding the scores can hide (see there). */
typedef struct {
    const double *move;      /* (k,) each centre's move since the last pass, rounded up */
    const double *half_gap;  /* (k,) half the distance to the nearest other centre, rounded down */
    double move_max;         /* the largest move */
    double c_norm_max;       /* the largest |c| of the (centred) centres */
    double err_scale;        /* a score's error is at most err_scale (|x'| + |c|)^2 */
    double slack;            /* relative slack for the rounding of the bounds themselves */
    int fresh;               /* no bounds yet: score every row */
} GmmcLloydBounds;

/* Rows a bounded pass sorts into settled and scored at a time. */
#define GMMC_LLOYD_SUB 256

static int gmmc_have_avx512(void)
{
#if GMMC_AVX512_KERNELS
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#if GMMC_AVX512_KERNELS

#define GMMC_MK_TARGET __attribute__((target("avx512f,fma"), always_inline)) inline

/* One precision: V vector type, W its width, and its intrinsics. */
#define GMMC_DEFINE_MICROKERNELS(SUFFIX, T, V, W, SETZERO, SET1, LOADU, FMADD, REDUCE) \
                                                                               \
/* sq[r] += sum over the columns [col0, col0 + W*P) of (z_r U)^2, r < R (rows \
 * of z are dp apart), the rows of U above col0 in full and the diagonal      \
 * block by segments. z_r's elements are broadcast from memory: a broadcast   \
 * of a register would take the shuffle port that also runs multiply-adds. */ \
static GMMC_MK_TARGET void gmmc_qf_panel_##SUFFIX(                              \
    const T *z, int d, int dp, const T *u, int col0, const int R, const int P, \
    V *sq)                                                                     \
{                                                                              \
    V acc[GMMC_MK_ROWS][GMMC_MK_VECS];                                         \
    for (int r = 0; r < R; r++)                                                \
        for (int v = 0; v < P; v++)                                            \
            acc[r][v] = SETZERO();                                             \
    for (int64_t a = 0; a < col0; a++) {                                       \
        const T *ua = u + a * dp + col0;                                       \
        V uv[GMMC_MK_VECS];                                                    \
        for (int v = 0; v < P; v++)                                            \
            uv[v] = LOADU(ua + W * v);                                         \
        for (int r = 0; r < R; r++) {                                          \
            V b = SET1(z[(int64_t)r * dp + a]);                                \
            for (int v = 0; v < P; v++)                                        \
                acc[r][v] = FMADD(b, uv[v], acc[r][v]);                        \
        }                                                                      \
    }                                                                          \
    /* row a only reaches columns >= a: vector v from segment v on */          \
    _Pragma("GCC unroll 4")                                                    \
    for (int s = 0; s < P; s++) {                                              \
        int64_t a_end = col0 + W * (s + 1) < d ? col0 + W * (s + 1) : d;       \
        for (int64_t a = col0 + W * s; a < a_end; a++) {                       \
            const T *ua = u + a * dp + col0;                                   \
            V uv[GMMC_MK_VECS];                                                \
            for (int v = s; v < P; v++)                                        \
                uv[v] = LOADU(ua + W * v);                                     \
            for (int r = 0; r < R; r++) {                                      \
                V b = SET1(z[(int64_t)r * dp + a]);                            \
                for (int v = s; v < P; v++)                                    \
                    acc[r][v] = FMADD(b, uv[v], acc[r][v]);                    \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int r = 0; r < R; r++)                                                \
        for (int v = 0; v < P; v++)                                            \
            sq[r] = FMADD(acc[r][v], acc[r][v], sq[r]);                        \
}                                                                              \
                                                                               \
static GMMC_MK_TARGET void gmmc_qf_rows_##SUFFIX(                               \
    const T *x, int d, const T *mu, int dp, const T *u, const int R,           \
    double offset, T *out, int stride, T *z)                                   \
{                                                                              \
    V sq[GMMC_MK_ROWS];                                                        \
    int col0 = 0, left;                                                        \
    for (int r = 0; r < R; r++)                                                \
        for (int64_t a = 0; a < d; a++)                                        \
            z[(int64_t)r * dp + a] = x[(int64_t)r * d + a] - mu[a];            \
    for (int r = 0; r < R; r++)                                                \
        sq[r] = SETZERO();                                                     \
    for (; dp - col0 >= W * GMMC_MK_VECS; col0 += W * GMMC_MK_VECS)            \
        gmmc_qf_panel_##SUFFIX(z, d, dp, u, col0, R, GMMC_MK_VECS, sq);        \
    left = (dp - col0) / W;                                                    \
    if (left == 3)                                                             \
        gmmc_qf_panel_##SUFFIX(z, d, dp, u, col0, R, 3, sq);                   \
    else if (left == 2)                                                        \
        gmmc_qf_panel_##SUFFIX(z, d, dp, u, col0, R, 2, sq);                   \
    else if (left == 1)                                                        \
        gmmc_qf_panel_##SUFFIX(z, d, dp, u, col0, R, 1, sq);                   \
    for (int r = 0; r < R; r++)                                                \
        out[(int64_t)r * stride] = (T)(offset - 0.5 * (double)REDUCE(sq[r]));   \
}                                                                              \
                                                                               \
/* out[i * stride] := offset - 0.5 ||(x_i - mu) U||^2 for the n rows of x     \
 * (n, d); U is (dp, dp). Rows are centred GMMC_MK_ROWS at a time into z      \
 * (GMMC_MK_ROWS * dp values). */                                             \
__attribute__((target("avx512f,fma"))) static void                             \
gmmc_upper_quadratic_forms_##SUFFIX(const T *x, int n, int d, const T *mu,     \
                                    int dp, const T *u, double offset, T *out, \
                                    int stride, T *z)                          \
{                                                                              \
    int i = 0;                                                                 \
    for (; i + GMMC_MK_ROWS <= n; i += GMMC_MK_ROWS)                           \
        gmmc_qf_rows_##SUFFIX(x + (int64_t)i * d, d, mu, dp, u, GMMC_MK_ROWS,  \
                              offset, out + (int64_t)i * stride, stride, z);   \
    if (i + 4 <= n) { /* one row alone keeps only 4 multiply-adds in flight */ \
        gmmc_qf_rows_##SUFFIX(x + (int64_t)i * d, d, mu, dp, u, 4, offset,     \
                              out + (int64_t)i * stride, stride, z);           \
        i += 4;                                                                \
    }                                                                          \
    for (; i < n; i++)                                                         \
        gmmc_qf_rows_##SUFFIX(x + (int64_t)i * d, d, mu, dp, u, 1, offset,     \
                              out + (int64_t)i * stride, stride, z);           \
}                                                                              \
                                                                               \
/* acc[r][v] := rows a0 .. a0+R-1 of the Gram matrix, columns [col0 + W*v,  \
 * col0 + W*(v+1)): sum_i z_ia z_ic over the n rows of z (dp apart), in T,    \
 * in registers (R <= GMMC_GRAM_ROWS, P <= GMMC_GRAM_VECS; also the tiles of  \
 * gmmc_full_pass). */                                                        \
static GMMC_MK_TARGET void gmmc_gram_sums_##SUFFIX(                             \
    const T *z, int n, int dp, int a0, int col0, const int R, const int P,     \
    V acc[GMMC_GRAM_ROWS][GMMC_GRAM_VECS])                                     \
{                                                                              \
    for (int r = 0; r < R; r++)                                                \
        for (int v = 0; v < P; v++)                                            \
            acc[r][v] = SETZERO();                                             \
    for (int i = 0; i < n; i++) {                                              \
        const T *zi = z + (int64_t)i * dp;                                     \
        V cv[GMMC_GRAM_VECS];                                                  \
        for (int v = 0; v < P; v++)                                            \
            cv[v] = LOADU(zi + col0 + W * v);                                  \
        for (int r = 0; r < R; r++) {                                          \
            V b = SET1(zi[a0 + r]);                                            \
            for (int v = 0; v < P; v++)                                        \
                acc[r][v] = FMADD(b, cv[v], acc[r][v]);                        \
        }                                                                      \
    }                                                                          \
}                                                                              \
                                                                               \
/* Rows a0 .. a0+R-1 of the Gram matrix, columns [col0, col0 + W*P):           \
 * g[a][c] = sum_i z_ia z_ic over the n rows of z. */                          \
static GMMC_MK_TARGET void gmmc_gram_tile_##SUFFIX(                             \
    const T *z, int n, int dp, int a0, int col0, const int R, const int P,     \
    T *g)                                                                      \
{                                                                              \
    V acc[GMMC_GRAM_ROWS][GMMC_GRAM_VECS];                                     \
    gmmc_gram_sums_##SUFFIX(z, n, dp, a0, col0, R, P, acc);                    \
    for (int r = 0; r < R; r++)                                                \
        for (int v = 0; v < P; v++)                                            \
            _mm512_storeu_##SUFFIX##_helper(g + (int64_t)(a0 + r) * dp + col0 + W * v, \
                                            acc[r][v]);                        \
}                                                                              \
                                                                               \
/* g (dp, dp) := z^T z on and above the diagonal, by whole vectors (entries    \
 * below it in the same vector are written too; the rest are left as they    \
 * were), for z (n, dp). dp is a multiple of W, so of GMMC_GRAM_ROWS. */       \
__attribute__((target("avx512f,fma"))) static void                             \
gmmc_gram_upper_##SUFFIX(const T *z, int n, int dp, T *g)                       \
{                                                                              \
    for (int a0 = 0; a0 < dp; a0 += GMMC_GRAM_ROWS) {                          \
        int col0 = a0 - a0 % W;                                                \
        for (; dp - col0 >= W * GMMC_GRAM_VECS; col0 += W * GMMC_GRAM_VECS)    \
            gmmc_gram_tile_##SUFFIX(z, n, dp, a0, col0, GMMC_GRAM_ROWS,        \
                                    GMMC_GRAM_VECS, g);                        \
        if (dp > col0)                                                         \
            gmmc_gram_tile_##SUFFIX(z, n, dp, a0, col0, GMMC_GRAM_ROWS, 1, g); \
    }                                                                          \
}

static inline __attribute__((target("avx512f"), always_inline)) void
_mm512_storeu_d_helper(double *p, __m512d v) { _mm512_storeu_pd(p, v); }
static inline __attribute__((target("avx512f"), always_inline)) void
_mm512_storeu_f_helper(float *p, __m512 v) { _mm512_storeu_ps(p, v); }

GMMC_DEFINE_MICROKERNELS(d, double, __m512d, 8, _mm512_setzero_pd, _mm512_set1_pd,
                         _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_reduce_add_pd)
GMMC_DEFINE_MICROKERNELS(f, float, __m512, 16, _mm512_setzero_ps, _mm512_set1_ps,
                         _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps)

/* The high 8 floats of a vector (AVX-512F has no 256-bit float extract). */
static inline __attribute__((target("avx512f"), always_inline)) __m256
gmmc_high8_ps(__m512 v)
{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* Asks for cache lines first .. stop - 1 of the bytes from ``base``, which
 * the caller reads soon. A pass that centres a group of rows into a buffer
 * and then computes on it for hundreds of cycles leaves the memory idle
 * meanwhile: X comes from the last-level cache no faster than the loads that
 * ask for it, and the hardware's prefetchers do not run that far ahead
 * (k-means++'s distances, 100 000 x 32, 4 candidates: 1.92 ms a pass alone,
 * 1.44 ms with the next group but one asked for, a few lines per candidate).
 * A prefetch never faults, so the lines may lie past the data's end; integer
 * arithmetic, not a pointer past the array. */
static inline __attribute__((always_inline)) void
gmmc_prefetch_lines(const void *base, int64_t offset, int first, int stop)
{
    const uintptr_t start = (uintptr_t)base + (uintptr_t)offset;
    for (int q = first; q < stop; q++)
        _mm_prefetch((const char *)(start + (uintptr_t)64 * q), _MM_HINT_T0);
}

/* k-means++ seeding distances, out[j * ld + i] := ||(x_i - offset) - c_j||^2:
 * the sums of gmmc_direct_distances_* (_vectorized.h), in the same order
 * (feature b in lane b % 8, lanes added pairwise), 8 rows at a time so that
 * their 8 lane sums are reduced together: adding up one row's lanes alone
 * costs more than its squares at D = 32. ``work`` holds 8 centred rows of dp
 * values. Unless ``closest`` is NULL, the candidates' potentials are added
 * to ``lanes`` (8 per candidate) in gmmc_seed_potentials_*' order (sample i
 * in lane i % 8; a multiply-add per sample where weighted, as its AVX-512
 * build contracts it), from the distances still in registers rather than
 * read back. */
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_sum_lanes8(const __m512d v[8])
{
    /* pairs of neighbouring lanes, then of pairs, then of quadruples */
    __m512d a0 = _mm512_add_pd(_mm512_unpacklo_pd(v[0], v[1]), _mm512_unpackhi_pd(v[0], v[1]));
    __m512d a1 = _mm512_add_pd(_mm512_unpacklo_pd(v[2], v[3]), _mm512_unpackhi_pd(v[2], v[3]));
    __m512d a2 = _mm512_add_pd(_mm512_unpacklo_pd(v[4], v[5]), _mm512_unpackhi_pd(v[4], v[5]));
    __m512d a3 = _mm512_add_pd(_mm512_unpacklo_pd(v[6], v[7]), _mm512_unpackhi_pd(v[6], v[7]));
    __m512d b0 = _mm512_add_pd(_mm512_shuffle_f64x2(a0, a1, _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f64x2(a0, a1, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512d b1 = _mm512_add_pd(_mm512_shuffle_f64x2(a2, a3, _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f64x2(a2, a3, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_pd(_mm512_shuffle_f64x2(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f64x2(b0, b1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Per type: the mask of features b .. b + W - 1 below d; a row's centred
 * features there (zeros past d), as the portable loop rounds them (float:
 * the difference taken in double); acc += (x' - c)^2 by lanes of 8 doubles
 * (float: each square rounded to float, then its low and high 8 added). */
static inline __attribute__((target("avx512f"), always_inline)) __mmask8
gmmc_seed_mask_d(int d, int b)
{
    return d - b >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (d - b)) - 1);
}
static inline __attribute__((target("avx512f"), always_inline)) __mmask16
gmmc_seed_mask_f(int d, int b)
{
    return d - b >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - b)) - 1);
}
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_seed_centre_d(const double *row, const double *offset, __mmask8 m)
{
    return _mm512_sub_pd(_mm512_maskz_loadu_pd(m, row), _mm512_maskz_loadu_pd(m, offset));
}
static inline __attribute__((target("avx512f"), always_inline)) __m512
gmmc_seed_centre_f(const float *row, const double *offset, __mmask16 m)
{
    const __m512 xv = _mm512_maskz_loadu_ps(m, row);
    const __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(
        _mm512_cvtps_pd(_mm512_castps512_ps256(xv)), _mm512_maskz_loadu_pd((__mmask8)m, offset)));
    const __m256 hi = _mm512_cvtpd_ps(_mm512_sub_pd(
        _mm512_cvtps_pd(gmmc_high8_ps(xv)), _mm512_maskz_loadu_pd((__mmask8)(m >> 8), offset + 8)));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)),
                                               _mm256_castps_pd(hi), 1));
}
static inline __attribute__((target("avx512f,fma"), always_inline)) __m512d
gmmc_seed_square_d(__m512d acc, __m512d xv, __m512d cv)
{
    const __m512d diff = _mm512_sub_pd(xv, cv);
    return _mm512_fmadd_pd(diff, diff, acc);
}
static inline __attribute__((target("avx512f,fma"), always_inline)) __m512d
gmmc_seed_square_f(__m512d acc, __m512 xv, __m512 cv)
{
    const __m512 diff = _mm512_sub_ps(xv, cv);
    const __m512 sq = _mm512_mul_ps(diff, diff);
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(sq)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(gmmc_high8_ps(sq)));
}

/* The stores return the distances as stored (float: rounded to float),
 * widened to double; WIDEN loads 8 values (masked) as doubles. */
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_store8_dist_d(double *p, __mmask8 mask, __m512d v)
{
    _mm512_mask_storeu_pd(p, mask, v);
    return v;
}
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_store8_dist_f(float *p, __mmask8 mask, __m512d v)
{
    const __m256 rounded = _mm512_cvtpd_ps(v);
    _mm512_mask_storeu_ps(p, (__mmask16)mask, _mm512_castps256_ps512(rounded));
    return _mm512_cvtps_pd(rounded);
}
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_widen8_d(const double *p, __mmask8 mask) { return _mm512_maskz_loadu_pd(mask, p); }
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_widen8_f(const float *p, __mmask8 mask)
{
    return _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)mask, p)));
}

/* lanes += w least (least alone without weights) in the rows' lanes: a
 * candidate's potentials, as gmmc_seed_potentials_* adds them (a multiply-add
 * where weighted, as its AVX-512 build contracts it). */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_seed_add_lanes(double *lanes, __m512d least, const void *weight, __m512d wt,
                    __mmask8 rows)
{
    const __m512d sum = _mm512_loadu_pd(lanes);
    _mm512_storeu_pd(lanes, weight == NULL ? _mm512_mask_add_pd(sum, rows, sum, least)
                                           : _mm512_mask3_fmadd_pd(wt, least, sum, rows));
}

/* A candidate's squared distances to 8 rows (row[r], NULL past the last:
 * zeros), gmmc_direct_distances_*' sums. The first candidate of a group
 * (``centre``) reads the rows from X and centres them into ``work`` (8 rows
 * of dp values) as it goes, so that their loads overlap its arithmetic (a
 * group centred first, then scored, left the memory idle while it computed:
 * 100 000 x 32, 4 candidates, 2 threads: 0.87 -> 0.71 ms a pass); the others
 * read ``work``. */
#define GMMC_DEFINE_SEED_SCORE8(SUFFIX, T, V, W)                               \
static inline __attribute__((target("avx512f,fma"), always_inline)) __m512d    \
gmmc_seed_score8_##SUFFIX(const T *const row[8], int d, int dp, const double *offset, \
                          const T *c, T *work, int centre)                     \
{                                                                              \
    __m512d acc[8];                                                            \
    for (int r = 0; r < 8; r++)                                                \
        acc[r] = _mm512_setzero_pd();                                          \
    for (int b = 0; b < dp; b += W) {                                          \
        const V cv = GMMC_SEED_LOAD_##SUFFIX(gmmc_seed_mask_##SUFFIX(d, b), c + b); \
        if (centre)                                                            \
            for (int r = 0; r < 8; r++) {                                      \
                const V xv = row[r] != NULL ? gmmc_seed_centre_##SUFFIX(        \
                    row[r] + b, offset + b, gmmc_seed_mask_##SUFFIX(d, b))     \
                    : GMMC_SEED_ZERO_##SUFFIX();                               \
                GMMC_SEED_STORE_##SUFFIX(work + (int64_t)r * dp + b, xv);      \
                acc[r] = gmmc_seed_square_##SUFFIX(acc[r], xv, cv);            \
            }                                                                  \
        else                                                                   \
            for (int r = 0; r < 8; r++)                                        \
                acc[r] = gmmc_seed_square_##SUFFIX(                            \
                    acc[r], GMMC_SEED_LOADU_##SUFFIX(work + (int64_t)r * dp + b), cv); \
    }                                                                          \
    return gmmc_sum_lanes8(acc);                                               \
}

#define GMMC_DEFINE_SEED_DISTANCES(SUFFIX, T, V, W)                            \
__attribute__((target("avx512f,fma"))) static void                             \
gmmc_seed_distances_##SUFFIX(const T *x, int n, int d, const double *offset,   \
                             const T *centers, int t, T *work, T *out,         \
                             int64_t ld, const T *closest, const T *weight,    \
                             double *lanes)                                    \
{                                                                              \
    const int dp = (d + W - 1) / W * W;                                        \
    /* the group of 8 rows after the next: its lines, a share per candidate */ \
    const int lines = (int)((8 * (int64_t)d * sizeof(T) + 63) / 64);          \
    const int share = (lines + t - 1) / t;                                     \
    for (int i0 = 0; i0 < n; i0 += 8) {                                        \
        const int m = n - i0 < 8 ? n - i0 : 8;                                 \
        const __mmask8 rows = (__mmask8)((1u << m) - 1);                       \
        const int64_t ahead = (int64_t)(i0 + 16) * d * (int64_t)sizeof(T);     \
        __m512d near = _mm512_setzero_pd(), wt = _mm512_setzero_pd();         \
        if (closest != NULL) {                                                 \
            near = gmmc_widen8_##SUFFIX(closest + i0, rows);                   \
            if (weight != NULL)                                                \
                wt = gmmc_widen8_##SUFFIX(weight + i0, rows);                  \
        }                                                                      \
        const T *row[8];                                                       \
        for (int r = 0; r < 8; r++)                                            \
            row[r] = r < m ? x + (int64_t)(i0 + r) * d : NULL;                 \
        for (int j = 0; j < t; j++) {                                          \
            gmmc_prefetch_lines(x, ahead, j * share,                           \
                                (j + 1) * share < lines ? (j + 1) * share : lines); \
            const __m512d dist = gmmc_store8_dist_##SUFFIX(                    \
                out + j * ld + i0, rows, gmmc_seed_score8_##SUFFIX(            \
                    row, d, dp, offset, centers + (int64_t)j * d, work, j == 0)); \
            if (closest != NULL) /* the potentials, while dist is in a register */ \
                gmmc_seed_add_lanes(lanes + 8 * j, _mm512_min_pd(dist, near), weight, wt, rows); \
        }                                                                      \
    }                                                                          \
}
#define GMMC_SEED_LOAD_d(m, p) _mm512_maskz_loadu_pd(m, p)
#define GMMC_SEED_LOAD_f(m, p) _mm512_maskz_loadu_ps(m, p)
#define GMMC_SEED_LOADU_d(p) _mm512_loadu_pd(p)
#define GMMC_SEED_LOADU_f(p) _mm512_loadu_ps(p)
#define GMMC_SEED_STORE_d(p, v) _mm512_storeu_pd(p, v)
#define GMMC_SEED_STORE_f(p, v) _mm512_storeu_ps(p, v)
#define GMMC_SEED_ZERO_d() _mm512_setzero_pd()
#define GMMC_SEED_ZERO_f() _mm512_setzero_ps()

GMMC_DEFINE_SEED_SCORE8(d, double, __m512d, 8)
GMMC_DEFINE_SEED_SCORE8(f, float, __m512, 16)
GMMC_DEFINE_SEED_DISTANCES(d, double, __m512d, 8)
GMMC_DEFINE_SEED_DISTANCES(f, float, __m512, 16)

/* k-means++'s candidates pass, pruned by the triangle inequality: row i needs
 * a candidate's distance only where closest_i > min_limit[labels_i], labels_i
 * being the centre closest_i is the distance to and min_limit[l] the least,
 * over the candidates, of a distance to centre l within which no candidate
 * can be nearer than l (kmeans_plusplus_loop sets them, with a margin for
 * rounding). Elsewhere min(dist, closest_i) is closest_i for every candidate:
 * such a row is not read, and its out[j * ld + i] not written. The rows
 * that are get gmmc_seed_distances_*' distances (same bits: a row's sums in
 * the same order) and ``lanes`` the same sums, added in row order. Late in the
 * seeding most rows need no candidate.
 *
 * By chunks of GMMC_PRUNED_ROWS rows: the list of a chunk's needed rows is
 * made a chunk ahead, so that they can be prefetched 16 rows ahead across
 * chunks; the rows are then scored 8 at a time, as in gmmc_seed_distances_*
 * (the first candidate centres them into ``work``, 8 rows of dp values), and
 * the potentials added up. out moves with the chunks when ``out_moves``, else
 * it is one chunk's. ``queue``: GMMC_PRUNED_QUEUE int32 of work space. */
#define GMMC_PRUNED_ROWS 256
#define GMMC_PRUNED_QUEUE (2 * (GMMC_PRUNED_ROWS + 16) + 2 * GMMC_PRUNED_ROWS / 32)

static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_copy8_d(double *dst, const double *src, __mmask8 m)
{
    _mm512_mask_storeu_pd(dst, m, _mm512_maskz_loadu_pd(m, src));
}
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_copy8_f(float *dst, const float *src, __mmask8 m)
{
    _mm512_mask_storeu_ps(dst, (__mmask16)m, _mm512_maskz_loadu_ps((__mmask16)m, src));
}

/* table[index_r] for 8 indices below kt, table padded to a multiple of 16
 * entries: by permutes of 16 entries at a time up to 64 (a gather waits ~10x
 * longer on CPUs with Intel's gather-data-sampling mitigation). */
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_lookup8(const double *table, int kt, __m256i index, __mmask8 rows)
{
    if (kt > 64)
        return _mm512_mask_i32gather_pd(_mm512_setzero_pd(), rows, index, table, 8);
    const __m512i wide = _mm512_cvtepi32_epi64(index);
    __m512d out = _mm512_setzero_pd();
    for (int s = 0; s < kt; s += 16) {
        const __m512i local = _mm512_sub_epi64(wide, _mm512_set1_epi64(s));
        const __mmask8 in = _mm512_cmplt_epu64_mask(local, _mm512_set1_epi64(16));
        out = _mm512_mask_mov_pd(out, in, _mm512_permutex2var_pd(
            _mm512_loadu_pd(table + s), local, _mm512_loadu_pd(table + s + 8)));
    }
    return out;
}

/* A chunk's needed rows (n <= GMMC_PRUNED_ROWS): their indices to ``list``
 * (returns how many), and a bit per row to ``masks`` (8 per byte). */
static inline __attribute__((target("avx512f"), always_inline)) int
gmmc_pruned_rows(int n, const double *near_d, const float *near_f, const int32_t *labels,
                 const double *min_limit, int kt, int32_t *list, uint8_t *masks)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0);
    int count = 0;
    for (int i0 = 0; i0 < n; i0 += 8) {
        const __mmask8 rows = (__mmask8)((1u << (n - i0 < 8 ? n - i0 : 8)) - 1);
        const __m512d near = near_d != NULL ? _mm512_maskz_loadu_pd(rows, near_d + i0)
            : _mm512_cvtps_pd(_mm512_castps512_ps256(
                  _mm512_maskz_loadu_ps((__mmask16)rows, near_f + i0)));
        const __m256i label = _mm512_castsi512_si256(
            _mm512_maskz_loadu_epi32((__mmask16)rows, labels + i0));
        const __m512d limit = gmmc_lookup8(min_limit, kt, label, rows);
        /* not (closest <= limit): NaN never prunes */
        const __mmask8 need = _mm512_mask_cmp_pd_mask(rows, near, limit, _CMP_NLE_UQ);
        _mm512_storeu_si512(list + count, _mm512_maskz_compress_epi32(
            (__mmask16)need, _mm512_add_epi32(lane, _mm512_set1_epi32(i0))));
        count += __builtin_popcount(need);
        masks[i0 / 8] = need;
    }
    return count;
}

#define GMMC_DEFINE_SEED_PRUNED(SUFFIX, T, V, W, NEAR_D, NEAR_F)               \
__attribute__((target("avx512f,fma"))) static void                             \
gmmc_seed_pruned_##SUFFIX(const T *x, int64_t n, int d, const double *offset,  \
                          const T *centers, int t, T *work, T *out, int64_t ld, \
                          int out_moves, const T *closest, const T *weight,    \
                          double *lanes, const int32_t *labels,                \
                          const double *min_limit, int kt, int32_t *queue)     \
{                                                                              \
    const int R = GMMC_PRUNED_ROWS, dp = (d + W - 1) / W * W;                  \
    const int lines = (int)(((int64_t)d * sizeof(T) + 63) / 64);              \
    int32_t *list[2] = {queue, queue + R + 16};                                \
    uint8_t *masks[2] = {(uint8_t *)(queue + 2 * (R + 16)),                    \
                         (uint8_t *)(queue + 2 * (R + 16)) + R / 8};           \
    if (n <= 0)                                                                \
        return;                                                                \
    int count = gmmc_pruned_rows(n < R ? (int)n : R, NEAR_D(closest), NEAR_F(closest), \
                                 labels, min_limit, kt, list[0], masks[0]);    \
    for (int64_t start = 0; start < n; start += R) {                           \
        const int64_t next = start + R;                                        \
        const int nk = n - start < R ? (int)(n - start) : R;                   \
        const int nn = next >= n ? 0 : (n - next < R ? (int)(n - next) : R);   \
        const int p = (int)((start / R) & 1);                                  \
        const int32_t *rows = list[p], *rows_next = list[p ^ 1];               \
        const int count_next = nn == 0 ? 0 : gmmc_pruned_rows(                 \
            nn, NEAR_D(closest + next), NEAR_F(closest + next), labels + next, \
            min_limit, kt, list[p ^ 1], masks[p ^ 1]);                         \
        const T *xk = x + start * d, *xn = x + next * d;                       \
        T *o = out + (out_moves ? start : 0);                                  \
        for (int q0 = 0; q0 < count; q0 += 8) {                                \
            const int m = count - q0 < 8 ? count - q0 : 8;                     \
            for (int a = q0 + 16; a < q0 + 24; a++) /* 16 rows on, across chunks */ \
                if (a < count)                                                 \
                    gmmc_prefetch_lines(xk, (int64_t)rows[a] * d * (int64_t)sizeof(T), 0, lines); \
                else if (a - count < count_next)                               \
                    gmmc_prefetch_lines(xn, (int64_t)rows_next[a - count] * d  \
                                        * (int64_t)sizeof(T), 0, lines);       \
            const T *row[8];                                                   \
            for (int r = 0; r < 8; r++)                                        \
                row[r] = r < m ? xk + (int64_t)rows[q0 + r] * d : NULL;        \
            for (int j = 0; j < t; j++) {                                      \
                T dist[8];                                                     \
                gmmc_store8_dist_##SUFFIX(dist, (__mmask8)0xFF, gmmc_seed_score8_##SUFFIX( \
                    row, d, dp, offset, centers + (int64_t)j * d, work, j == 0)); \
                for (int r = 0; r < m; r++)                                    \
                    o[j * ld + rows[q0 + r]] = dist[r];                        \
            }                                                                  \
        }                                                                      \
        for (int i0 = 0; i0 < nk; i0 += 8) { /* gmmc_seed_distances_*' sums */ \
            const __mmask8 all = (__mmask8)((1u << (nk - i0 < 8 ? nk - i0 : 8)) - 1); \
            const __mmask8 scored = masks[p][i0 / 8];                          \
            const __m512d near = gmmc_widen8_##SUFFIX(closest + start + i0, all); \
            const __m512d wt = weight == NULL ? _mm512_setzero_pd()            \
                : gmmc_widen8_##SUFFIX(weight + start + i0, all);              \
            for (int j = 0; j < t; j++)                                        \
                gmmc_seed_add_lanes(lanes + 8 * j, _mm512_mask_min_pd(         \
                    near, scored, gmmc_widen8_##SUFFIX(o + j * ld + i0, scored), near), \
                    weight, wt, all);                                          \
        }                                                                      \
        count = count_next;                                                    \
    }                                                                          \
}                                                                              \
                                                                               \
/* closest_i := out_i and labels_i := label where out_i < closest_i, over the  \
 * rows gmmc_seed_pruned_* scored (the same min_limit and labels): the others' \
 * out_i were not written. */                                                  \
__attribute__((target("avx512f"))) static void                                 \
gmmc_pruned_update_##SUFFIX(T *closest, int32_t *labels, const T *out, int64_t n, \
                            int32_t label, const double *min_limit, int kt)    \
{                                                                              \
    for (int64_t i0 = 0; i0 < n; i0 += 8) {                                    \
        const __mmask8 rows = (__mmask8)((1u << (n - i0 < 8 ? n - i0 : 8)) - 1); \
        const __m512d near = gmmc_widen8_##SUFFIX(closest + i0, rows);         \
        const __m256i lab = _mm512_castsi512_si256(                            \
            _mm512_maskz_loadu_epi32((__mmask16)rows, labels + i0));           \
        const __m512d limit = gmmc_lookup8(min_limit, kt, lab, rows);          \
        const __mmask8 scored = _mm512_mask_cmp_pd_mask(rows, near, limit, _CMP_NLE_UQ); \
        const __mmask8 nearer = _mm512_mask_cmp_pd_mask(                       \
            scored, gmmc_widen8_##SUFFIX(out + i0, scored), near, _CMP_LT_OQ); \
        gmmc_copy8_##SUFFIX(closest + i0, out + i0, nearer);                   \
        _mm512_mask_storeu_epi32(labels + i0, (__mmask16)nearer, _mm512_set1_epi32(label)); \
    }                                                                          \
}
#define GMMC_NEAR_AS_D(p) (p)
#define GMMC_NEAR_AS_NONE(p) NULL
GMMC_DEFINE_SEED_PRUNED(d, double, __m512d, 8, GMMC_NEAR_AS_D, GMMC_NEAR_AS_NONE)
GMMC_DEFINE_SEED_PRUNED(f, float, __m512, 16, GMMC_NEAR_AS_NONE, GMMC_NEAR_AS_D)



/* The fused statistics pass of diag and spherical covariances, for the widths
 * where the feature GEMMs and the fused pass of _vectorized.h (features down
 * a block's columns) lose (gmmc_diag_micro_pays). Blocks of GMMC_BLOCK rows
 * are centred about the shift into z (GMMC_BLOCK, dp), zeros past D and past
 * the last row. E-step: t_ija = z_ia p_ja + c_ja with c_j = (shift - mu_j) p_j
 * is (x_ia - mu_ja) p_ja by one multiply-add, so unlike the features (x^2 p^2
 * - 2 x mu p^2 + ...) nothing cancels; 8 rows by 2 components of sum_a t^2
 * in registers, the 8 rows' lane sums reduced together (gmmc_sum_lanes8).
 * Then the block's log-sum-exp (gmmc_normalize_cols), and the moments sum r,
 * sum r z and sum r z^2 by register tiles of up to 5 components by 2-4
 * vectors of features, a GEMM's shape: per row, one broadcast of r_ij feeds
 * 2P multiply-adds. Per block the tiles' sums are added to the float64 sums
 * (K (1 + 2 dp) values); float32 adds up a block in float. */
#define GMMC_DIAG_GROUP 5

/* Where this pass beats the others (one pass of 100 000 rows, one thread,
 * against the fused pass of _vectorized.h or the feature GEMMs, whichever ran):
 * float64 diag D = 16, K = 2 0.94x, K = 5 1.05x, K = 8 1.17x; D = 24, K = 5
 * 1.30x; D = 32, K = 5 1.44x, K = 16 1.20x; D = 64, K = 5 2.10x, K = 16 1.29x;
 * D = 12, K = 5 0.92x. Spherical's GEMMs have fewer features: D = 32, K = 5
 * 1.33x, K = 8 0.95x. float32 rows are one or two vectors wide below D = 32,
 * and its E-step's lane sums cost more: diag D = 16, K = 5 0.83x; D = 32,
 * K = 5 1.26x, K = 8 1.16x, K = 16 0.87x; D = 64, K = 10 1.39x; spherical
 * D = 24, K = 5 1.59x, D = 32, K = 8 1.68x, K = 16 0.84x. */
static inline int gmmc_diag_micro_pays(int d, int k, int spherical, int single)
{
    if (single)
        return spherical ? d >= 24 && k <= 8 : d >= 32 && k <= 10;
    if (spherical)
        return d >= 24 && k <= 5;
    return k <= 16 && (d >= 24 || (d >= 16 && k >= 3));
}

/* lp of 8 rows of z (dp apart) for components j0 .. j0+G-1 into cols. */
#define GMMC_DEFINE_DIAG_PASS(SUFFIX, T, V, W, SETZERO, SET1, LOAD, FMADD, MUL, ROWS8, STORE8, ADDD) \
static GMMC_MK_TARGET void gmmc_diag_lp_tile_##SUFFIX(                          \
    const T *z, int dp, const T *pc, int j0, const int G,                      \
    const double *offset, T *cols)                                             \
{                                                                              \
    V acc[2][8];                                                               \
    for (int g = 0; g < G; g++)                                                \
        for (int r = 0; r < 8; r++)                                            \
            acc[g][r] = SETZERO();                                             \
    for (int64_t a = 0; a < dp; a += W) {                                      \
        V zr[8];                                                               \
        for (int r = 0; r < 8; r++)                                            \
            zr[r] = LOAD(z + (int64_t)r * dp + a);                             \
        for (int g = 0; g < G; g++) {                                          \
            const T *pj = pc + (int64_t)(j0 + g) * 2 * dp;                     \
            V p = LOAD(pj + a), c = LOAD(pj + dp + a);                         \
            for (int r = 0; r < 8; r++) {                                      \
                V t = FMADD(zr[r], p, c);                                      \
                acc[g][r] = FMADD(t, t, acc[g][r]);                            \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int g = 0; g < G; g++) {                                              \
        __m512d q = ROWS8(acc[g]);                                             \
        __m512d lp = _mm512_fnmadd_pd(_mm512_set1_pd(0.5), q,                  \
                                      _mm512_set1_pd(offset[j0 + g]));         \
        STORE8(cols + (int64_t)(j0 + g) * GMMC_BLOCK, lp);                     \
    }                                                                          \
}                                                                              \
                                                                               \
/* sx[j] += sum_i r_ij z_i, sxx[j] += sum_i r_ij z_i^2 over the block, for    \
 * components j0 .. j0+G-1 and the P vectors of features from a0. */          \
static GMMC_MK_TARGET void gmmc_diag_moments_tile_##SUFFIX(                     \
    const T *z, int dp, const T *cols, int j0, const int G, int64_t a0,        \
    const int P, double *sx, double *sxx)                                      \
{                                                                              \
    V ax[GMMC_DIAG_GROUP][4], axx[GMMC_DIAG_GROUP][4];                         \
    for (int g = 0; g < G; g++)                                                \
        for (int v = 0; v < P; v++)                                            \
            ax[g][v] = axx[g][v] = SETZERO();                                  \
    for (int i = 0; i < GMMC_BLOCK; i++) {                                     \
        V zv[4], zz[4];                                                        \
        for (int v = 0; v < P; v++) {                                          \
            zv[v] = LOAD(z + (int64_t)i * dp + a0 + W * v);                    \
            zz[v] = MUL(zv[v], zv[v]);                                         \
        }                                                                      \
        for (int g = 0; g < G; g++) {                                          \
            V r = SET1(cols[(int64_t)(j0 + g) * GMMC_BLOCK + i]);              \
            for (int v = 0; v < P; v++) {                                      \
                ax[g][v] = FMADD(r, zv[v], ax[g][v]);                          \
                axx[g][v] = FMADD(r, zz[v], axx[g][v]);                        \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int g = 0; g < G; g++)                                                \
        for (int v = 0; v < P; v++) {                                          \
            ADDD(sx + (int64_t)(j0 + g) * dp + a0 + W * v, ax[g][v]);          \
            ADDD(sxx + (int64_t)(j0 + g) * dp + a0 + W * v, axx[g][v]);        \
        }                                                                      \
}                                                                              \
                                                                               \
static GMMC_MK_TARGET void gmmc_diag_moments_##SUFFIX(                          \
    const T *z, int dp, const T *cols, int j0, const int G, double *sx,        \
    double *sxx)                                                               \
{                                                                              \
    const int P = G <= 2 ? 4 : 2; /* 16-20 accumulators */                     \
    int64_t a0 = 0;                                                            \
    for (; a0 + W * P <= dp; a0 += W * P)                                      \
        gmmc_diag_moments_tile_##SUFFIX(z, dp, cols, j0, G, a0, P, sx, sxx);   \
    for (; a0 < dp; a0 += W)                                                   \
        gmmc_diag_moments_tile_##SUFFIX(z, dp, cols, j0, G, a0, 1, sx, sxx);   \
}                                                                              \
                                                                               \
/* Returns sum_i w_i log p(x_i). pc: (K, 2, dp) work space for p_j and c_j;   \
 * z: GMMC_BLOCK * dp, cols: K * GMMC_BLOCK, 64-byte aligned; sums: K (1 + 2  \
 * dp) doubles. Adds to resp_sum (K,), sum_x (K, D) and sum_xx: (K, D) diag,  \
 * (K,) spherical (the sum over a). */                                        \
__attribute__((target("avx512f,fma"))) static double                           \
gmmc_diag_pass_##SUFFIX(const T *x, int64_t n, int d, int k, int spherical,    \
                        const T *means, const T *prec, const double *offset,   \
                        const T *weight, const double *shift,                  \
                        double *resp_sum, double *sum_x, double *sum_xx,       \
                        T *pc, T *z, T *cols, double *sums)                    \
{                                                                              \
    const int dp = (d + W - 1) / W * W;                                        \
    double wts[GMMC_BLOCK], lns[GMMC_BLOCK];                                   \
    double lanes[GMMC_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                       \
    double *rs = sums, *sx = sums + k, *sxx = sx + (int64_t)k * dp;            \
    memset(sums, 0, sizeof(double) * (size_t)k * (1 + 2 * (size_t)dp));       \
    for (int j = 0; j < k; j++) {                                              \
        T *pj = pc + (int64_t)j * 2 * dp;                                      \
        for (int a = 0; a < dp; a++) {                                         \
            double p = a >= d ? 0.0 : spherical ? prec[j] : prec[(int64_t)j * d + a]; \
            pj[a] = (T)p;                                                      \
            pj[dp + a] = a >= d ? (T)0 : (T)((shift[a] - means[(int64_t)j * d + a]) * p); \
        }                                                                      \
    }                                                                          \
    for (int64_t first = 0; first < n; first += GMMC_BLOCK) {                  \
        int rows = n - first < GMMC_BLOCK ? (int)(n - first) : GMMC_BLOCK;     \
        for (int i = 0; i < GMMC_BLOCK; i++) {                                 \
            T *zi = z + (int64_t)i * dp;                                       \
            int a = 0;                                                         \
            if (i < rows) {                                                    \
                const T *xi = x + (first + i) * d;                             \
                for (; a < d; a++)                                             \
                    zi[a] = (T)((double)xi[a] - shift[a]);                     \
                wts[i] = weight ? (double)weight[first + i] : 1.0;             \
            } else {                                                           \
                wts[i] = 0.0;                                                  \
            }                                                                  \
            for (; a < dp; a++)                                                \
                zi[a] = (T)0;                                                  \
        }                                                                      \
        for (int i = 0; i < GMMC_BLOCK; i += 8) {                              \
            int j0 = 0;                                                        \
            for (; j0 + 2 <= k; j0 += 2)                                       \
                gmmc_diag_lp_tile_##SUFFIX(z + (int64_t)i * dp, dp, pc, j0, 2, \
                                           offset, cols + i);                  \
            if (j0 < k)                                                        \
                gmmc_diag_lp_tile_##SUFFIX(z + (int64_t)i * dp, dp, pc, j0, 1, \
                                           offset, cols + i);                  \
        }                                                                      \
        gmmc_normalize_cols_##SUFFIX(cols, k, rows, wts, lns, lanes);          \
        for (int j = 0; j < k; j++) {                                          \
            const T *col = cols + (int64_t)j * GMMC_BLOCK;                     \
            V s = LOAD(col);                                                   \
            for (int i = W; i < GMMC_BLOCK; i += W)                            \
                s = _mm512_add_##SUFFIX##_helper(s, LOAD(col + i));            \
            rs[j] += gmmc_total_##SUFFIX(s);                                   \
        }                                                                      \
        for (int j0 = 0; j0 < k; j0 += GMMC_DIAG_GROUP) {                      \
            switch (k - j0) {                                                  \
            case 1: gmmc_diag_moments_##SUFFIX(z, dp, cols, j0, 1, sx, sxx); break; \
            case 2: gmmc_diag_moments_##SUFFIX(z, dp, cols, j0, 2, sx, sxx); break; \
            case 3: gmmc_diag_moments_##SUFFIX(z, dp, cols, j0, 3, sx, sxx); break; \
            case 4: gmmc_diag_moments_##SUFFIX(z, dp, cols, j0, 4, sx, sxx); break; \
            default: gmmc_diag_moments_##SUFFIX(z, dp, cols, j0, 5, sx, sxx);  \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int j = 0; j < k; j++) {                                              \
        resp_sum[j] += rs[j];                                                  \
        for (int a = 0; a < d; a++) {                                          \
            sum_x[(int64_t)j * d + a] += sx[(int64_t)j * dp + a];              \
            if (spherical)                                                     \
                sum_xx[j] += sxx[(int64_t)j * dp + a];                         \
            else                                                               \
                sum_xx[(int64_t)j * d + a] += sxx[(int64_t)j * dp + a];        \
        }                                                                      \
    }                                                                          \
    return gmmc_lanes_total(lanes);                                            \
}

static inline __attribute__((target("avx512f"), always_inline)) __m512d
_mm512_add_d_helper(__m512d a, __m512d b) { return _mm512_add_pd(a, b); }
static inline __attribute__((target("avx512f"), always_inline)) __m512
_mm512_add_f_helper(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }

/* A float vector's low and high 8 lanes added in float, widened to double. */
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_fold_to_double(__m512 v)
{
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = gmmc_high8_ps(v);
    return _mm512_cvtps_pd(_mm256_add_ps(lo, hi));
}
static inline __attribute__((target("avx512f"), always_inline)) double
gmmc_total_d(__m512d v) { return _mm512_reduce_add_pd(v); }
static inline __attribute__((target("avx512f"), always_inline)) double
gmmc_total_f(__m512 v) { return _mm512_reduce_add_pd(gmmc_fold_to_double(v)); }
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_rows8_d(const __m512d v[8]) { return gmmc_sum_lanes8(v); }
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_rows8_f(const __m512 v[8])
{
    __m512d h[8];
    for (int r = 0; r < 8; r++)
        h[r] = gmmc_fold_to_double(v[r]);
    return gmmc_sum_lanes8(h);
}
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_store8_d(double *p, __m512d v) { _mm512_storeu_pd(p, v); }
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_store8_f(float *p, __m512d v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
/* double sums (W values) += a vector of sums */
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_add_to_double_d(double *p, __m512d v)
{
    _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), v));
}
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_add_to_double_f(double *p, __m512 v)
{
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = gmmc_high8_ps(v);
    _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), _mm512_cvtps_pd(lo)));
    _mm512_storeu_pd(p + 8, _mm512_add_pd(_mm512_loadu_pd(p + 8), _mm512_cvtps_pd(hi)));
}

GMMC_DEFINE_DIAG_PASS(d, double, __m512d, 8, _mm512_setzero_pd, _mm512_set1_pd,
                      _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_mul_pd, gmmc_rows8_d,
                      gmmc_store8_d, gmmc_add_to_double_d)
GMMC_DEFINE_DIAG_PASS(f, float, __m512, 16, _mm512_setzero_ps, _mm512_set1_ps,
                      _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_mul_ps, gmmc_rows8_f,
                      gmmc_store8_f, gmmc_add_to_double_f)

/* The statistics pass of full covariances, fused block by block like
 * gmmc_small_full_pass of _vectorized.h, for D from 22 to 64
 * (gmmc_full_pass_pays), with register tiles where that pass has running
 * sums in memory: its moments keep one (GMMC_LANES)-lane sum per pair of
 * features, loaded and stored once per block (K D^2 / 2 vectors, beyond L1
 * from D = 24), which took half of its time.
 *
 * Per block of GMMC_BLOCK rows, transposed into xt (D, GMMC_BLOCK):
 * - E-step in the input's type, down the block's columns, vectorised across
 *   rows: y_b = c_jb + sum_{a <= b} (x_a - m_a) U_j[a, b] by tiles of
 *   GMMC_FULL_E_COLS columns by 4 vectors of rows (a broadcast of U feeds 4
 *   multiply-adds), q = sum_b y_b^2 in b's order, log-density
 *   offset_j - q / 2. float32 centres the rows on each component's mean
 *   (m = mu_j, c_j = 0: the sums of gmmc_small_full_pass, so its bits);
 *   float64 once per block, on the means' average m, with
 *   c_j = (m - mu_j) U_j: the centring was a tenth of the pass at D = 64,
 *   and a term of size |c_j| costs float64 little (a row's y_b is off by
 *   ~1e-16 |c_j|, against the feature GEMMs' 4e7 amplification);
 * - the block's log-sum-exp (gmmc_normalize_cols);
 * - moments from the rows as they are (row-major), per component: in
 *   float64, sum r and sum r (x - shift_j), and for the rows of r != 0 only
 *   (the others add nothing; separated clusters leave a component few)
 *   z_i = sqrt(r_ij) (x_i - shift_j), staged in T; every GMMC_BLOCK staged
 *   rows, the upper triangle of sum_i z_i z_i^T by 8-row, 2-vector tiles (a
 *   broadcast of z_ia feeds 2 multiply-adds) summed in T over those rows (as
 *   the BLAS paths sum a chunk) and added to (K, dp, dp) float64 sums, dp =
 *   D rounded up to a vector.
 * One pass of 100 000 rows, one thread, against the paths it replaces
 * (gmmc_small_full_pass to D = 32 and D K <= 384, else the per-component
 * micro-kernels or the feature GEMMs, whichever is faster): float64 D = 24,
 * K = 5 13.4 against 15.3 ms; D = 32, K = 5 20.2 against 25.8, K = 16 60
 * against 71; D = 48, K = 5 41 against 49; D = 64, K = 5 69 against 83,
 * K = 16 212 against 249; D = 22 1.02-1.04x to K = 5, 0.87x at K = 16 (the
 * feature GEMMs). float32: D = 32, K = 5 15.8 against 21.8, K = 16 even;
 * D = 64, K = 5 40 against 45, K = 16 120 against 151; D = 22 0.7-0.94x. */
#define GMMC_FULL_E_COLS 5
#define GMMC_FULL_MAX_D 64

static inline int gmmc_full_pass_pays(int d, int k, int single)
{
    if (d > GMMC_FULL_MAX_D)
        return 0;
    return single ? d >= 32 : d >= 24 || (d >= 22 && k <= 8);
}

/* Bytes of gmmc_full_pass's work space (`itemsize`: the input's), 64 more
 * than its parts so that it can start them on a cache line. */
static inline size_t gmmc_full_pass_bytes(int d, int k, int itemsize)
{
    size_t w = 64 / (size_t)itemsize, dp = ((size_t)d + w - 1) / w * w;
    return ((2 * (size_t)d + (size_t)k) * GMMC_BLOCK + (size_t)k * GMMC_BLOCK * dp) * (size_t)itemsize
        + ((size_t)k * dp * dp + (size_t)k * (GMMC_LANES + 2 * dp)) * sizeof(double)
        + (size_t)k * sizeof(int) + 64;
}

#define GMMC_DEFINE_FULL_PASS(SUFFIX, T, V, W, SETZERO, SET1, LOAD, STORE, SUB, MUL, FMADD, \
                              FNMADD, LOAD_ROW8, STORE_ROW8, ADD_TO_DOUBLES, SHARED_CENTRE) \
/* g (dp, dp) float64 += the rows a0 .. a0+7 of sum_i z_i z_i^T over the      \
 * block, columns [col0, col0 + W P), summed in T (rows of z dp apart). */    \
static GMMC_MK_TARGET void gmmc_full_gram_tile_##SUFFIX(                        \
    const T *zr, const int dp, int a0, int col0, const int P, double *g)       \
{                                                                              \
    V acc[GMMC_GRAM_ROWS][GMMC_GRAM_VECS];                                     \
    gmmc_gram_sums_##SUFFIX(zr, GMMC_BLOCK, dp, a0, col0, GMMC_GRAM_ROWS, P, acc); \
    for (int r = 0; r < GMMC_GRAM_ROWS; r++)                                   \
        for (int v = 0; v < P; v++)                                            \
            ADD_TO_DOUBLES(g + (int64_t)(a0 + r) * dp + col0 + W * v, acc[r][v]); \
}                                                                              \
                                                                               \
/* g (dp, dp) float64 += the upper triangle of sum_i z_i z_i^T over the      \
 * GMMC_BLOCK rows of zr (by whole vectors: entries below it in the same      \
 * vector are written too). */                                                \
static GMMC_MK_TARGET void gmmc_full_gram_##SUFFIX(const T *zr, int d, const int dp, \
                                                   double *g)                  \
{                                                                              \
    for (int a0 = 0; a0 < d; a0 += GMMC_GRAM_ROWS) {                           \
        int col0 = a0 - a0 % W;                                                \
        for (; dp - col0 >= GMMC_GRAM_VECS * W; col0 += GMMC_GRAM_VECS * W)    \
            gmmc_full_gram_tile_##SUFFIX(zr, dp, a0, col0, GMMC_GRAM_VECS, g); \
        if (dp > col0)                                                         \
            gmmc_full_gram_tile_##SUFFIX(zr, dp, a0, col0, 1, g);              \
    }                                                                          \
}                                                                              \
                                                                               \
/* The moments of one component over one block, r = col: l0 (GMMC_LANES      \
 * lanes) += r and sx (dp) += sum_i r_i (x_i - shift) in float64, and the     \
 * block's rows of r != 0 (the others add nothing) staged as                  \
 * z_i = sqrt(r_i) (x_i - shift), rounded to T, in zr (GMMC_BLOCK rows of dp  \
 * values, *staged of them filled): g (dp, dp) += their Gram matrix           \
 * (gmmc_full_gram) each time GMMC_BLOCK are staged. Separated clusters leave \
 * a component few such rows: its Gram matrix then costs as few rows. x: the  \
 * `rows` rows of the block (D apart); dp (D rounded up to W) a constant at   \
 * the call, so that the loops over a row unroll. */                          \
static GMMC_MK_TARGET void gmmc_full_moments_##SUFFIX(                          \
    const T *x, int rows, int d, const int dp, const T *col, const double *shift, \
    T *zr, int *staged, double *l0, double *sx, double *g)                     \
{                                                                              \
    double r[GMMC_BLOCK], roots[GMMC_BLOCK];                                   \
    __m512d acc0 = _mm512_load_pd(l0), sv[GMMC_FULL_MAX_D / 8];                \
    __m512d sxv[GMMC_FULL_MAX_D / 8];                                          \
    __mmask8 mask[GMMC_FULL_MAX_D / 8];                                        \
    int m = *staged;                                                           \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        r[i] = (double)col[i];                                                 \
    for (int i = 0; i < GMMC_BLOCK; i += 8) {                                  \
        __m512d ri = _mm512_load_pd(r + i);                                    \
        acc0 = _mm512_add_pd(acc0, ri);                                        \
        _mm512_store_pd(roots + i, _mm512_sqrt_pd(ri));                        \
    }                                                                          \
    _mm512_store_pd(l0, acc0);                                                 \
    for (int v = 0; v < dp / 8; v++) {                                         \
        int left = d - 8 * v; /* features of group v: none past D */          \
        mask[v] = left >= 8 ? 0xff : left <= 0 ? 0 : (__mmask8)((1u << left) - 1); \
        sv[v] = _mm512_maskz_loadu_pd(mask[v], shift + 8 * v);                 \
        sxv[v] = _mm512_setzero_pd();                                          \
    }                                                                          \
    for (int i = 0; i < rows; i++) {                                           \
        if (r[i] == 0.0)                                                       \
            continue;                                                          \
        const T *xi = x + (int64_t)i * d;                                      \
        T *zi = zr + (int64_t)m * dp;                                          \
        __m512d ri = _mm512_set1_pd(r[i]), qi = _mm512_set1_pd(roots[i]);      \
        for (int v = 0; v < dp / 8; v++) {                                     \
            __m512d t = _mm512_sub_pd(LOAD_ROW8(mask[v], xi + 8 * v), sv[v]);  \
            sxv[v] = _mm512_fmadd_pd(ri, t, sxv[v]);                           \
            STORE_ROW8(zi + 8 * v, _mm512_mul_pd(qi, t));                      \
        }                                                                      \
        if (++m == GMMC_BLOCK) {                                               \
            gmmc_full_gram_##SUFFIX(zr, d, dp, g);                             \
            m = 0;                                                             \
        }                                                                      \
    }                                                                          \
    *staged = m;                                                               \
    for (int v = 0; v < dp / 8; v++)                                           \
        _mm512_store_pd(sx + 8 * v, _mm512_add_pd(_mm512_load_pd(sx + 8 * v), sxv[v])); \
}                                                                              \
                                                                               \
/* q[r] (R vectors of rows) += y_b^2 for the B columns b0 .. b0+B-1, y_b as    \
 * in the comment above; ze: the block's centred columns (GMMC_BLOCK apart),   \
 * from its vector v0. U's zero triangle is skipped (a > b never read). */     \
static GMMC_MK_TARGET void gmmc_full_e_tile_##SUFFIX(                           \
    const T *ze, const T *u, const T *cj, int d, int b0, const int B, V *q)    \
{                                                                              \
    V acc[GMMC_FULL_E_COLS][4];                                                \
    for (int c = 0; c < B; c++)                                                \
        for (int r = 0; r < 4; r++)                                            \
            acc[c][r] = SET1(cj[b0 + c]);                                      \
    for (int64_t a = 0; a < b0; a++) {                                         \
        V zr[4];                                                               \
        for (int r = 0; r < 4; r++)                                            \
            zr[r] = LOAD(ze + a * GMMC_BLOCK + W * r);                         \
        const T *ua = u + a * d + b0;                                          \
        for (int c = 0; c < B; c++) {                                          \
            V ub = SET1(ua[c]);                                                \
            for (int r = 0; r < 4; r++)                                        \
                acc[c][r] = FMADD(zr[r], ub, acc[c][r]);                       \
        }                                                                      \
    }                                                                          \
    _Pragma("GCC unroll 8")                                                    \
    for (int t = 0; t < B; t++) { /* row b0 + t reaches columns b0 + t on */  \
        int64_t a = b0 + t;                                                    \
        V zr[4];                                                               \
        for (int r = 0; r < 4; r++)                                            \
            zr[r] = LOAD(ze + a * GMMC_BLOCK + W * r);                         \
        const T *ua = u + a * d + b0;                                          \
        for (int c = t; c < B; c++) {                                          \
            V ub = SET1(ua[c]);                                                \
            for (int r = 0; r < 4; r++)                                        \
                acc[c][r] = FMADD(zr[r], ub, acc[c][r]);                       \
        }                                                                      \
    }                                                                          \
    for (int c = 0; c < B; c++)                                                \
        for (int r = 0; r < 4; r++)                                            \
            q[r] = b0 + c == 0 ? MUL(acc[c][r], acc[c][r])                     \
                               : FMADD(acc[c][r], acc[c][r], q[r]);            \
}                                                                              \
                                                                               \
/* col (GMMC_BLOCK) := offset - q / 2 for the block's centred columns ze. */  \
static GMMC_MK_TARGET void gmmc_full_log_density_##SUFFIX(                      \
    const T *ze, const T *u, const T *cj, int d, double offset, T *col)        \
{                                                                              \
    for (int v0 = 0; v0 < GMMC_BLOCK / W; v0 += 4) {                           \
        const T *zv = ze + W * v0;                                             \
        /* zeros for GCC's sake: the first tile sets q (b0 + c == 0) */       \
        V q[4] = {SETZERO(), SETZERO(), SETZERO(), SETZERO()};                 \
        int b0 = 0;                                                            \
        for (; b0 + GMMC_FULL_E_COLS <= d; b0 += GMMC_FULL_E_COLS)             \
            gmmc_full_e_tile_##SUFFIX(zv, u, cj, d, b0, GMMC_FULL_E_COLS, q);      \
        switch (d - b0) {                                                      \
        case 1: gmmc_full_e_tile_##SUFFIX(zv, u, cj, d, b0, 1, q); break;          \
        case 2: gmmc_full_e_tile_##SUFFIX(zv, u, cj, d, b0, 2, q); break;          \
        case 3: gmmc_full_e_tile_##SUFFIX(zv, u, cj, d, b0, 3, q); break;          \
        case 4: gmmc_full_e_tile_##SUFFIX(zv, u, cj, d, b0, 4, q); break;          \
        default: break;                                                        \
        }                                                                      \
        V half = SET1((T)0.5), off = SET1((T)offset);                          \
        for (int r = 0; r < 4; r++)                                            \
            STORE(col + W * (v0 + r), FNMADD(half, q[r], off));                \
    }                                                                          \
}                                                                              \
                                                                               \
/* Returns sum_i w_i log p(x_i); adds to resp_sum (K,), sum_x (K, D) and the  \
 * upper triangles of sum_xx (K, D, D), the moments about shift (K, D).       \
 * prec: the upper factors U_j, zero below the diagonal. work:                 \
 * gmmc_full_pass_bytes(d, k, sizeof(T)) bytes. */                             \
__attribute__((target("avx512f,fma"))) static double                           \
gmmc_full_pass_##SUFFIX(const T *x, int64_t n, int d, int k, const T *means,   \
                        const T *prec, const double *offset, const T *weight,  \
                        const double *shift, double *resp_sum, double *sum_x,  \
                        double *sum_xx, void *work)                            \
{                                                                              \
    const int dp = (d + W - 1) / W * W;                                        \
    T (*xt)[GMMC_BLOCK] = (T (*)[GMMC_BLOCK])(((uintptr_t)work + 63) & ~(uintptr_t)63); \
    T *ze = xt[d], *cols = ze + (int64_t)d * GMMC_BLOCK;                       \
    T *zr = cols + (int64_t)k * GMMC_BLOCK; /* (K, GMMC_BLOCK, dp) staged */   \
    double *g = (double *)(zr + (int64_t)k * GMMC_BLOCK * dp);                 \
    double *l0 = g + (int64_t)k * dp * dp, *sx = l0 + (int64_t)k * GMMC_LANES; \
    double wts[GMMC_BLOCK], lns[GMMC_BLOCK];                                   \
    double lanes[GMMC_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                       \
    memset(g, 0, sizeof(double) * (size_t)k * ((size_t)dp * dp + GMMC_LANES + dp)); \
    T centre[GMMC_FULL_MAX_D];                                                 \
    T *cs = (T *)(sx + (int64_t)k * dp);                                       \
    int *staged = (int *)(cs + (int64_t)k * d); /* rows staged per component */ \
    for (int a = 0; SHARED_CENTRE && a < d; a++) {                             \
        double total = 0.0;                                                    \
        for (int j = 0; j < k; j++)                                            \
            total += (double)means[(int64_t)j * d + a];                        \
        centre[a] = (T)(total / k);                                            \
    }                                                                          \
    memset(staged, 0, sizeof(int) * (size_t)k);                                \
    for (int j = 0; j < k; j++)                                                \
        for (int b = 0; b < d; b++) {                                          \
            double total = 0.0;                                                \
            for (int a = 0; SHARED_CENTRE && a <= b; a++)                      \
                total += ((double)centre[a] - (double)means[(int64_t)j * d + a]) \
                    * (double)prec[((int64_t)j * d + a) * d + b];              \
            cs[(int64_t)j * d + b] = (T)total;                                 \
        }                                                                      \
    for (int64_t first = 0; first < n; first += GMMC_BLOCK) {                  \
        int rows = n - first < GMMC_BLOCK ? (int)(n - first) : GMMC_BLOCK;     \
        const T *block = x + first * d;                                        \
        gmmc_load_block_##SUFFIX(block, rows, d, weight ? weight + first : NULL, xt, wts); \
        if (first + GMMC_BLOCK < n) { /* the next block, into L2 meanwhile */  \
            int64_t next = n - first - GMMC_BLOCK < GMMC_BLOCK ? n - first - GMMC_BLOCK \
                                                               : GMMC_BLOCK;   \
            gmmc_prefetch_lines(block + (int64_t)GMMC_BLOCK * d, 0, 0,         \
                                (int)((next * d * (int64_t)sizeof(T) + 63) / 64)); \
        }                                                                      \
        for (int j = 0; j < k; j++) {                                          \
            if (j == 0 || !SHARED_CENTRE) {                                    \
                const T *mu = SHARED_CENTRE ? centre : means + (int64_t)j * d; \
                for (int a = 0; a < d; a++) {                                  \
                    V m = SET1(mu[a]);                                         \
                    for (int i = 0; i < GMMC_BLOCK; i += W)                    \
                        STORE(ze + (int64_t)a * GMMC_BLOCK + i, SUB(LOAD(xt[a] + i), m)); \
                }                                                              \
            }                                                                  \
            gmmc_full_log_density_##SUFFIX(ze, prec + (int64_t)j * d * d, cs + (int64_t)j * d, d, \
                                           offset[j], cols + (int64_t)j * GMMC_BLOCK); \
        }                                                                      \
        gmmc_normalize_cols_##SUFFIX(cols, k, rows, wts, lns, lanes);          \
        for (int j = 0; j < k; j++) {                                          \
            const T *col = cols + (int64_t)j * GMMC_BLOCK;                     \
            const double *sj = shift + (int64_t)j * d;                         \
            double *gj = g + (int64_t)j * dp * dp, *sxj = sx + (int64_t)j * dp; \
            double *l0j = l0 + (int64_t)j * GMMC_LANES;                        \
            T *zj = zr + (int64_t)j * GMMC_BLOCK * dp;                         \
            switch (dp) { /* a constant dp unrolls the loops over a row */     \
            case 16: gmmc_full_moments_##SUFFIX(block, rows, d, 16, col, sj, zj, staged + j, l0j, sxj, gj); break; \
            case 24: gmmc_full_moments_##SUFFIX(block, rows, d, 24, col, sj, zj, staged + j, l0j, sxj, gj); break; \
            case 32: gmmc_full_moments_##SUFFIX(block, rows, d, 32, col, sj, zj, staged + j, l0j, sxj, gj); break; \
            case 40: gmmc_full_moments_##SUFFIX(block, rows, d, 40, col, sj, zj, staged + j, l0j, sxj, gj); break; \
            case 48: gmmc_full_moments_##SUFFIX(block, rows, d, 48, col, sj, zj, staged + j, l0j, sxj, gj); break; \
            case 56: gmmc_full_moments_##SUFFIX(block, rows, d, 56, col, sj, zj, staged + j, l0j, sxj, gj); break; \
            default: gmmc_full_moments_##SUFFIX(block, rows, d, 64, col, sj, zj, staged + j, l0j, sxj, gj); \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int j = 0; j < k; j++) {                                              \
        T *zj = zr + (int64_t)j * GMMC_BLOCK * dp;                             \
        double *gj = g + (int64_t)j * dp * dp;                                 \
        if (staged[j]) { /* the rows left: zero rows make up the block */      \
            memset(zj + (int64_t)staged[j] * dp, 0,                            \
                   sizeof(T) * (size_t)(GMMC_BLOCK - staged[j]) * dp);         \
            gmmc_full_gram_##SUFFIX(zj, d, dp, gj);                            \
        }                                                                      \
        resp_sum[j] += gmmc_lanes_total(l0 + (int64_t)j * GMMC_LANES);         \
        for (int a = 0; a < d; a++) {                                          \
            sum_x[(int64_t)j * d + a] += sx[(int64_t)j * dp + a];              \
            for (int b = a; b < d; b++)                                        \
                sum_xx[((int64_t)j * d + a) * d + b] += g[((int64_t)j * dp + a) * dp + b]; \
        }                                                                      \
    }                                                                          \
    return gmmc_lanes_total(lanes);                                            \
}

/* 8 features of a row (mask: those below D) in float64, and back to T. */
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_load_row8_d(__mmask8 m, const double *p) { return _mm512_maskz_loadu_pd(m, p); }
static inline __attribute__((target("avx512f"), always_inline)) __m512d
gmmc_load_row8_f(__mmask8 m, const float *p)
{
    return _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)m, p)));
}
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_store_row8_d(double *p, __m512d v) { _mm512_store_pd(p, v); }
static inline __attribute__((target("avx512f"), always_inline)) void
gmmc_store_row8_f(float *p, __m512d v) { _mm256_store_ps(p, _mm512_cvtpd_ps(v)); }

GMMC_DEFINE_FULL_PASS(d, double, __m512d, 8, _mm512_setzero_pd, _mm512_set1_pd,
                      _mm512_load_pd, _mm512_store_pd, _mm512_sub_pd, _mm512_mul_pd,
                      _mm512_fmadd_pd, _mm512_fnmadd_pd, gmmc_load_row8_d,
                      gmmc_store_row8_d, gmmc_add_to_double_d, 1)
GMMC_DEFINE_FULL_PASS(f, float, __m512, 16, _mm512_setzero_ps, _mm512_set1_ps,
                      _mm512_load_ps, _mm512_store_ps, _mm512_sub_ps, _mm512_mul_ps,
                      _mm512_fmadd_ps, _mm512_fnmadd_ps, gmmc_load_row8_f,
                      gmmc_store_row8_f, gmmc_add_to_double_f, 0)

/* Lloyd's assignment with the centres in the vectors' lanes, for k <=
 * GMMC_LLOYD_MAX_K: OpenBLAS runs a chunk's (k, n) x (n, d) product at 15-20
 * GFLOP/s for d, k = 16 (packing costs more than the product), and the
 * closest-centre search after it reads the product back. Here, row by row:
 * x' = (T)(x - offset), score_j = sum_b x'_b ct[b, j] with ct (d, kp) holding
 * -2 c_jb (kp a multiple of 16; lanes past k have c_sq = +inf, never chosen),
 * dist_j = max((score_j + ||x'||^2) + c_sq_j, 0) rounded to T as
 * gmmc_lloyd_assign_*, and the first least dist_j gives the label. Then
 * sums[label] += w x', counts[label] += w, inertia += w dist, and n_changed
 * counts the labels that changed. ``centred``: d values of work space. */
#define GMMC_LLOYD_MAX_K 32
/* Below this many centres most lanes are padding and the GEMM is as fast.
 * Against it, 100 000 rows, one thread: double 0.8-0.9x at K = 3-4,
 * 1.0-1.3x at K = 8, 1.6-2.1x at K = 16-32 (D = 4-64); float 0.8-1.0x at
 * K = 4-8, 1.1-1.6x at K = 10-32. */
#define GMMC_LLOYD_MIN_K 8
#define GMMC_LLOYD_MIN_K_F 10

static inline __attribute__((target("avx512f"), always_inline)) int
gmmc_first_least(const __m512d *dist, int nv, double *least)
{
    __m512d m = dist[0];
    for (int v = 1; v < nv; v++)
        m = _mm512_min_pd(m, dist[v]);
    const double lo = _mm512_reduce_min_pd(m);
    const __m512d lov = _mm512_set1_pd(lo);
    *least = lo;
    /* every vector's matches in one mask, without branches: which vector
     * holds the least is data, and mispredicted branches cost more than
     * the whole search */
    uint64_t eq = 0;
    for (int v = 0; v < nv; v++)
        eq |= (uint64_t)_mm512_cmp_pd_mask(dist[v], lov, _CMP_EQ_OQ) << (8 * v);
    return eq ? __builtin_ctzll(eq) : 0;
}

/* Rows i0 .. i0 + r - 1 (r <= GMMC_LLOYD_ROWS) scored together: their
 * accumulators are independent, so the FMAs overlap instead of waiting on
 * each other's latency, and each load of ct serves r rows. */
#define GMMC_LLOYD_ROWS 4

/* c_row := x' = row - offset (d values); returns x' * x' by lanes. */
static inline __attribute__((target("avx512f,fma"), always_inline)) __m512d
gmmc_lloyd_centre_d(const double *row, int d, const double *offset, double *c_row)
{
    __m512d sq = _mm512_setzero_pd();
    int b = 0;
    for (; b + 8 <= d; b += 8) { /* whole vectors without masks */
        const __m512d c = _mm512_sub_pd(_mm512_loadu_pd(row + b), _mm512_loadu_pd(offset + b));
        _mm512_storeu_pd(c_row + b, c);
        sq = _mm512_fmadd_pd(c, c, sq);
    }
    if (b < d) {
        const __mmask8 m = (__mmask8)((1u << (d - b)) - 1);
        const __m512d c = _mm512_sub_pd(_mm512_maskz_loadu_pd(m, row + b),
                                        _mm512_maskz_loadu_pd(m, offset + b));
        _mm512_mask_storeu_pd(c_row + b, m, c);
        sq = _mm512_fmadd_pd(c, c, sq);
    }
    return sq;
}

/* c_row := x' = (float)(row - offset), the difference taken in double; returns
 * the squares, each rounded to float, by lanes in double. */
static inline __attribute__((target("avx512f,fma"), always_inline)) __m512d
gmmc_lloyd_centre_f(const float *row, int d, const double *offset, float *c_row)
{
    const __mmask8 tail = (__mmask8)((1u << (d % 8)) - 1);
    __m512d sq = _mm512_setzero_pd();
    for (int b = 0; b < d; b += 8) {
        const __mmask8 m = d - b >= 8 ? (__mmask8)0xFF : tail;
        const __m256 xv = _mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)m, row + b));
        const __m256 c = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_cvtps_pd(xv),
                                                       _mm512_maskz_loadu_pd(m, offset + b)));
        _mm512_mask_storeu_ps(c_row + b, (__mmask16)m, _mm512_castps256_ps512(c));
        sq = _mm512_add_pd(sq, _mm512_cvtps_pd(_mm256_mul_ps(c, c)));
    }
    return sq;
}

/* s += w x' for a centred row (s: its label's sums). */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_lloyd_add_d(const double *c_row, int d, double w, double *s)
{
    const __m512d wv = _mm512_set1_pd(w);
    int b = 0;
    for (; b + 8 <= d; b += 8)
        _mm512_storeu_pd(s + b, _mm512_fmadd_pd(wv, _mm512_loadu_pd(c_row + b),
                                                _mm512_loadu_pd(s + b)));
    if (b < d) {
        const __mmask8 m = (__mmask8)((1u << (d - b)) - 1);
        _mm512_mask_storeu_pd(s + b, m, _mm512_fmadd_pd(
            wv, _mm512_maskz_loadu_pd(m, c_row + b), _mm512_maskz_loadu_pd(m, s + b)));
    }
}

static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_lloyd_add_f(const float *c_row, int d, double w, double *s)
{
    const __mmask8 tail = (__mmask8)((1u << (d % 8)) - 1);
    const __m512d wv = _mm512_set1_pd(w);
    for (int b = 0; b < d; b += 8) {
        const __mmask8 m = d - b >= 8 ? (__mmask8)0xFF : tail;
        const __m512d c = _mm512_cvtps_pd(_mm512_castps512_ps256(
            _mm512_maskz_loadu_ps((__mmask16)m, c_row + b)));
        _mm512_mask_storeu_pd(s + b, m, _mm512_fmadd_pd(wv, c, _mm512_maskz_loadu_pd(m, s + b)));
    }
}

/* sums += w x' for a row not centred yet: x' as gmmc_lloyd_centre_*
 * computes it, added as gmmc_lloyd_add_* adds it (the same bits), without
 * the store and reload of x' between them. */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_lloyd_centre_add_d(const double *row, int d, const double *offset, double w, double *s)
{
    const __m512d wv = _mm512_set1_pd(w);
    int b = 0;
    for (; b + 8 <= d; b += 8) /* whole vectors without masks: fewer instructions */
        _mm512_storeu_pd(s + b, _mm512_fmadd_pd(
            wv, _mm512_sub_pd(_mm512_loadu_pd(row + b), _mm512_loadu_pd(offset + b)),
            _mm512_loadu_pd(s + b)));
    if (b < d) {
        const __mmask8 m = (__mmask8)((1u << (d - b)) - 1);
        const __m512d c = _mm512_sub_pd(_mm512_maskz_loadu_pd(m, row + b),
                                        _mm512_maskz_loadu_pd(m, offset + b));
        _mm512_mask_storeu_pd(s + b, m, _mm512_fmadd_pd(wv, c, _mm512_maskz_loadu_pd(m, s + b)));
    }
}

static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_lloyd_centre_add_f(const float *row, int d, const double *offset, double w, double *s)
{
    const __mmask8 tail = (__mmask8)((1u << (d % 8)) - 1);
    const __m512d wv = _mm512_set1_pd(w);
    for (int b = 0; b < d; b += 8) {
        const __mmask8 m = d - b >= 8 ? (__mmask8)0xFF : tail;
        const __m256 xv = _mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)m, row + b));
        const __m256 c = _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_cvtps_pd(xv),
                                                       _mm512_maskz_loadu_pd(m, offset + b)));
        _mm512_mask_storeu_pd(s + b, m, _mm512_fmadd_pd(wv, _mm512_cvtps_pd(c),
                                                        _mm512_maskz_loadu_pd(m, s + b)));
    }
}

/* dist[q][v] := the squared distances of row q to the centres in lanes 8 v ..
 * 8 v + 7, as the comment above says, for r rows: x's rows rows[0 .. r-1], or
 * its first r when rows is NULL. The centred rows land in ``centred`` (r rows
 * d apart), their squared norms in x_sq. */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_lloyd_score_d(const int g, const int r, const double *x, const int *rows, int d,
                   const double *offset, const double *ct, int kp, const double *c_sq,
                   double *centred, double *x_sq, __m512d dist[][4])
{
    const __m512d zero = _mm512_setzero_pd();
    for (int q = 0; q < r; q++)
        x_sq[q] = _mm512_reduce_add_pd(gmmc_lloyd_centre_d(
            x + (int64_t)(rows == NULL ? q : rows[q]) * d, d, offset,
            centred + (int64_t)q * d));
    for (int q = 0; q < r; q++)
        for (int v = 0; v < g; v++)
            dist[q][v] = zero;
    for (int b = 0; b < d; b++) {
        const double *cb = ct + (int64_t)b * kp;
        __m512d cv[4];
        for (int v = 0; v < g; v++)
            cv[v] = _mm512_loadu_pd(cb + 8 * v);
        for (int q = 0; q < r; q++) {
            const __m512d xb = _mm512_set1_pd(centred[(int64_t)q * d + b]);
            for (int v = 0; v < g; v++)
                dist[q][v] = _mm512_fmadd_pd(xb, cv[v], dist[q][v]);
        }
    }
    for (int q = 0; q < r; q++) {
        const __m512d xs = _mm512_set1_pd(x_sq[q]);
        for (int v = 0; v < g; v++)
            dist[q][v] = _mm512_max_pd(_mm512_add_pd(_mm512_add_pd(dist[q][v], xs),
                                                     _mm512_loadu_pd(c_sq + 8 * v)), zero);
    }
}

/* The float version: g vectors of 16 centres, scored in float; dist[q] holds
 * 2 g vectors of 8 distances in double, each rounded to float first (T's
 * rounding, as gmmc_lloyd_assign_f). */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
gmmc_lloyd_score_f(const int g, const int r, const float *x, const int *rows, int d,
                   const double *offset, const float *ct, int kp, const double *c_sq,
                   float *centred, double *x_sq, __m512d dist[][4])
{
    const __m512d zero = _mm512_setzero_pd();
    for (int q = 0; q < r; q++)
        x_sq[q] = _mm512_reduce_add_pd(gmmc_lloyd_centre_f(
            x + (int64_t)(rows == NULL ? q : rows[q]) * d, d, offset,
            centred + (int64_t)q * d));
    const __m512 zf = _mm512_setzero_ps();
    __m512 acc[GMMC_LLOYD_ROWS][2];
    for (int q = 0; q < r; q++)
        for (int v = 0; v < g; v++)
            acc[q][v] = zf;
    for (int b = 0; b < d; b++) {
        const float *cb = ct + (int64_t)b * kp;
        __m512 cv[2];
        for (int v = 0; v < g; v++)
            cv[v] = _mm512_loadu_ps(cb + 16 * v);
        for (int q = 0; q < r; q++) {
            const __m512 xb = _mm512_set1_ps(centred[(int64_t)q * d + b]);
            for (int v = 0; v < g; v++)
                acc[q][v] = _mm512_fmadd_ps(xb, cv[v], acc[q][v]);
        }
    }
    for (int q = 0; q < r; q++) {
        const __m512d xs = _mm512_set1_pd(x_sq[q]);
        for (int v = 0; v < g; v++)
            for (int h = 0; h < 2; h++) {
                const __m256 half = h == 0 ? _mm512_castps512_ps256(acc[q][v])
                    : gmmc_high8_ps(acc[q][v]);
                const __m512d e = _mm512_max_pd(_mm512_add_pd(
                    _mm512_add_pd(_mm512_cvtps_pd(half), xs),
                    _mm512_loadu_pd(c_sq + 16 * v + 8 * h)), zero);
                dist[q][2 * v + h] = _mm512_cvtps_pd(_mm512_cvtpd_ps(e));
            }
    }
}

static inline void
gmmc_lloyd_new_bounds(const GmmcLloydBounds *b, double x_sq, double least, double second,
                      double *upper, double *lower)
{
    const double reach = sqrt(x_sq) + b->c_norm_max;
    const double err = b->err_scale * reach * reach;
    *upper = sqrt(least + err) * (1.0 + b->slack);
    *lower = second > err ? sqrt(second - err) * (1.0 - b->slack) : 0.0;
}

/* The least of dist's lanes but lane ``label``: the second-closest centre. */
static inline __attribute__((target("avx512f"), always_inline)) double
gmmc_other_least(const __m512d *dist, int nv, int label)
{
    __m512d m = _mm512_set1_pd(INFINITY);
    for (int v = 0; v < nv; v++) {
        const __mmask8 keep = label / 8 == v ? (__mmask8)~(1u << (label % 8)) : (__mmask8)0xFF;
        m = _mm512_mask_min_pd(m, keep, m, dist[v]);
    }
    return _mm512_reduce_min_pd(m);
}

/* Scores r rows, then per row: the label, inertia, counts and sums, and the
 * row's distance bounds where ``bounds`` is not NULL. */
#define GMMC_DEFINE_LLOYD_BLOCK(SUFFIX, T, NV)                                  \
static inline __attribute__((target("avx512f,fma"), always_inline)) void       \
gmmc_lloyd_block_##SUFFIX(const int g, const int r, const T *x, int d,          \
                          const double *offset, const T *ct, int kp,           \
                          const double *c_sq, const T *weight, int *labels,    \
                          double *sums, double *counts, double *inertia,       \
                          int64_t *n_changed, T *centred, double *upper,       \
                          double *lower, const GmmcLloydBounds *bounds)        \
{                                                                              \
    double x_sq[GMMC_LLOYD_ROWS];                                              \
    __m512d dist[GMMC_LLOYD_ROWS][4];                                          \
    gmmc_lloyd_score_##SUFFIX(g, r, x, NULL, d, offset, ct, kp, c_sq, centred, \
                              x_sq, dist);                                     \
    for (int q = 0; q < r; q++) {                                              \
        double least;                                                          \
        const int label = gmmc_first_least(dist[q], NV, &least);               \
        const double w = weight == NULL ? 1.0 : (double)weight[q];             \
        *n_changed += labels[q] != label;                                      \
        labels[q] = label;                                                     \
        *inertia += w * least;                                                 \
        counts[label] += w;                                                    \
        gmmc_lloyd_add_##SUFFIX(centred + (int64_t)q * d, d, w,                \
                                sums + (int64_t)label * d);                    \
        if (bounds != NULL)                                                    \
            gmmc_lloyd_new_bounds(bounds, x_sq[q], least,                      \
                                  gmmc_other_least(dist[q], NV, label),        \
                                  upper + q, lower + q);                       \
    }                                                                          \
}
GMMC_DEFINE_LLOYD_BLOCK(d, double, g)
GMMC_DEFINE_LLOYD_BLOCK(f, float, 2 * g)

/* Rows ahead whose lines a block asks for (gmmc_prefetch_lines): 4 blocks
 * (100 000 x 32, K = 16, a Lloyd's run of 3 passes on 2 threads: 10-14 %
 * faster, paired medians; 8-24 rows ahead all gain, within noise). */
#define GMMC_LLOYD_AHEAD 16

/* GMMC_LLOYD_ROWS rows at a time, then one by one; g = vectors of centres;
 * the bounds of every row when BOUNDS is not NULL. */
#define GMMC_LLOYD_RUN(BLOCK, G, UPPER, LOWER, BOUNDS)                         \
    do {                                                                       \
        /* in registers, not through the callers' pointers: a store and a    \
         * reload per row would chain the rows */                              \
        double inertia_sum = 0.0;                                              \
        int64_t changed = 0;                                                   \
        int64_t i = 0;                                                         \
        const int64_t row_bytes = (int64_t)d * (int64_t)sizeof(*x);            \
        const int lines = (int)((GMMC_LLOYD_ROWS * row_bytes + 63) / 64);      \
        for (; i + GMMC_LLOYD_ROWS <= n; i += GMMC_LLOYD_ROWS) {               \
            gmmc_prefetch_lines(x, (i + GMMC_LLOYD_AHEAD) * row_bytes, 0, lines); \
            BLOCK(G, GMMC_LLOYD_ROWS, x + i * d, d, offset, ct, kp, c_sq,      \
                  weight == NULL ? NULL : weight + i, labels + i, sums, counts, \
                  &inertia_sum, &changed, centred, UPPER + i, LOWER + i,       \
                  BOUNDS);                                                     \
        }                                                                      \
        for (; i < n; i++)                                                     \
            BLOCK(G, 1, x + i * d, d, offset, ct, kp, c_sq,                    \
                  weight == NULL ? NULL : weight + i, labels + i, sums, counts, \
                  &inertia_sum, &changed, centred, UPPER + i, LOWER + i,       \
                  BOUNDS);                                                     \
        *inertia += inertia_sum;                                               \
        *n_changed += changed;                                                 \
    } while (0)

/* kp / 16 blocks of 16 centres: one copy of the loop per count, so that the
 * accumulators stay in registers. ``centred``: GMMC_LLOYD_ROWS * d values. */
__attribute__((target("avx512f,fma"))) static void
gmmc_lloyd_rows_d(const double *x, int64_t n, int d, const double *offset, const double *ct,
                  int kp, const double *c_sq, const double *weight, int *labels,
                  double *sums, double *counts, double *inertia, int64_t *n_changed,
                  double *centred)
{
    if (kp <= 16)
        GMMC_LLOYD_RUN(gmmc_lloyd_block_d, 2, (double *)0, (double *)0, NULL);
    else
        GMMC_LLOYD_RUN(gmmc_lloyd_block_d, 4, (double *)0, (double *)0, NULL);
}

__attribute__((target("avx512f,fma"))) static void
gmmc_lloyd_rows_f(const float *x, int64_t n, int d, const double *offset, const float *ct,
                  int kp, const double *c_sq, const float *weight, int *labels,
                  double *sums, double *counts, double *inertia, int64_t *n_changed,
                  float *centred)
{
    if (kp <= 16)
        GMMC_LLOYD_RUN(gmmc_lloyd_block_f, 1, (double *)0, (double *)0, NULL);
    else
        GMMC_LLOYD_RUN(gmmc_lloyd_block_f, 2, (double *)0, (double *)0, NULL);
}

/* Lloyd's assignment with Hamerly's bounds: a row whose label the bounds
 * settle is not scored. Per row, upper >= its distance to its centre and
 * lower <= its distance to every other centre (distances, not squares). A
 * pass first moves them by how far the centres moved (upper += move[label],
 * lower -= move_max); the row keeps its label when its centre is nearer than
 * any other by more than the rounding of the scores could hide: then scoring
 * it would give the same label. A scored row's bounds come from its two
 * least squared distances, widened by that rounding. The sums are added in
 * row order, with the same operations as gmmc_lloyd_rows_*, so the labels,
 * sums and counts are those of gmmc_lloyd_rows_*, bit for bit. */
static inline __attribute__((target("avx512f,fma"), always_inline)) int
gmmc_lloyd_unsettled(const GmmcLloydBounds *b, const int *labels, double *upper,
                     double *lower, int m, int *rows)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512d move_max = _mm512_set1_pd(b->move_max);
    const __m512d shrink = _mm512_set1_pd(1.0 - b->slack);
    const __m512d grow = _mm512_set1_pd(1.0 + b->slack);
    const __m512d two = _mm512_set1_pd(2.0);
    const __m512d two_norms = _mm512_set1_pd(2.0 * b->c_norm_max);
    const __m512d two_err = _mm512_set1_pd(2.0 * b->err_scale);
    int count = 0;
    for (int q = 0; q < m; q += 8) {
        const __mmask8 live = m - q >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (m - q)) - 1);
        const __m256i label = _mm512_castsi512_si256(
            _mm512_maskz_loadu_epi32((__mmask16)live, labels + q));
        const __m512d u = _mm512_add_pd(_mm512_maskz_loadu_pd(live, upper + q),
                                        _mm512_mask_i32gather_pd(_mm512_setzero_pd(), live,
                                                                 label, b->move, 8));
        const __m512d l = _mm512_sub_pd(_mm512_maskz_loadu_pd(live, lower + q), move_max);
        _mm512_mask_storeu_pd(upper + q, live, u);
        _mm512_mask_storeu_pd(lower + q, live, l);
        /* a centre c_j nearer than 2 half_gap - u to x would be nearer than
         * that to c_label too */
        const __m512d by_gap = _mm512_sub_pd(
            _mm512_mul_pd(two, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), live, label,
                                                        b->half_gap, 8)), u);
        const __m512d other = _mm512_max_pd(l, by_gap);
        /* |x'| <= u + |c_label|: the rounding of the new scores is at most
         * err_scale (u + 2 c_norm_max)^2 */
        const __m512d reach = _mm512_add_pd(u, two_norms);
        __mmask8 settled = _mm512_cmp_pd_mask(_mm512_mul_pd(other, shrink),
                                              _mm512_mul_pd(u, grow), _CMP_GT_OQ);
        settled &= _mm512_cmp_pd_mask(
            _mm512_mul_pd(_mm512_sub_pd(other, u), _mm512_add_pd(other, u)),
            _mm512_mul_pd(two_err, _mm512_mul_pd(reach, reach)), _CMP_GT_OQ);
        const __mmask16 scored = (__mmask16)(live & ~settled);
        _mm512_storeu_si512(rows + count, _mm512_maskz_compress_epi32(
            scored, _mm512_add_epi32(lane, _mm512_set1_epi32(q))));
        count += __builtin_popcount(scored);
    }
    return count;
}

#define GMMC_DEFINE_LLOYD_BOUNDED(SUFFIX, T, NV, G_SMALL, G_LARGE)              \
static inline __attribute__((target("avx512f,fma"), always_inline)) void       \
gmmc_lloyd_scored_##SUFFIX(const int g, const int r, const T *x, const int *rows, \
                           int d, const double *offset, const T *ct, int kp,   \
                           const double *c_sq, int *labels, double *upper,     \
                           double *lower, const GmmcLloydBounds *bounds,       \
                           int64_t *n_changed, T *centred)                     \
{                                                                              \
    double x_sq[GMMC_LLOYD_ROWS];                                              \
    __m512d dist[GMMC_LLOYD_ROWS][4];                                          \
    gmmc_lloyd_score_##SUFFIX(g, r, x, rows, d, offset, ct, kp, c_sq, centred, \
                              x_sq, dist);                                     \
    for (int q = 0; q < r; q++) {                                              \
        double least;                                                          \
        const int i = rows[q];                                                 \
        const int label = gmmc_first_least(dist[q], NV, &least);               \
        *n_changed += labels[i] != label;                                      \
        labels[i] = label;                                                     \
        gmmc_lloyd_new_bounds(bounds, x_sq[q], least,                          \
                              gmmc_other_least(dist[q], NV, label),            \
                              upper + i, lower + i);                           \
    }                                                                          \
}                                                                              \
                                                                               \
static inline __attribute__((target("avx512f,fma"), always_inline)) void       \
gmmc_lloyd_bounded_run_##SUFFIX(const int g, const T *x, int64_t n, int d,      \
                                const double *offset, const T *ct, int kp,     \
                                const double *c_sq, const T *weight,           \
                                int *labels, double *sums, double *counts,     \
                                int64_t *n_changed, T *centred, double *upper, \
                                double *lower, const GmmcLloydBounds *bounds)  \
{                                                                              \
    int64_t changed = 0;                                                       \
    int rows[GMMC_LLOYD_SUB + 16]; /* whole vectors of 16 indices stored */   \
    for (int64_t i0 = 0; i0 < n; i0 += GMMC_LLOYD_SUB) {                       \
        const int m = n - i0 < GMMC_LLOYD_SUB ? (int)(n - i0) : GMMC_LLOYD_SUB; \
        const int count = gmmc_lloyd_unsettled(bounds, labels + i0, upper + i0, \
                                               lower + i0, m, rows);           \
        int c = 0;                                                             \
        for (; c + GMMC_LLOYD_ROWS <= count; c += GMMC_LLOYD_ROWS)             \
            gmmc_lloyd_scored_##SUFFIX(g, GMMC_LLOYD_ROWS, x + i0 * d, rows + c, \
                                       d, offset, ct, kp, c_sq, labels + i0,   \
                                       upper + i0, lower + i0, bounds,         \
                                       &changed, centred);                     \
        for (; c < count; c++)                                                 \
            gmmc_lloyd_scored_##SUFFIX(g, 1, x + i0 * d, rows + c, d, offset,   \
                                       ct, kp, c_sq, labels + i0, upper + i0,  \
                                       lower + i0, bounds, &changed, centred); \
        /* every row's sums, in row order: x' again, as it was scored */       \
        for (int q = 0; q < m; q++) {                                          \
            const int label = labels[i0 + q];                                  \
            const double w = weight == NULL ? 1.0 : (double)weight[i0 + q];    \
            counts[label] += w;                                                \
            gmmc_lloyd_centre_add_##SUFFIX(x + (i0 + q) * d, d, offset, w,     \
                                           sums + (int64_t)label * d);         \
        }                                                                      \
    }                                                                          \
    *n_changed += changed;                                                     \
}                                                                              \
                                                                               \
/* gmmc_lloyd_rows_* with the bounds (upper, lower: n rows each); no inertia. */ \
__attribute__((target("avx512f,fma"))) static void                             \
gmmc_lloyd_bounded_rows_##SUFFIX(const T *x, int64_t n, int d, const double *offset, \
                                 const T *ct, int kp, const double *c_sq,      \
                                 const T *weight, int *labels, double *sums,   \
                                 double *counts, int64_t *n_changed, T *centred, \
                                 double *upper, double *lower,                 \
                                 const GmmcLloydBounds *bounds)                \
{                                                                              \
    if (bounds->fresh) { /* every row scored: the fused pass, with bounds */  \
        double unused = 0.0, *inertia = &unused;                               \
        if (kp <= 16)                                                          \
            GMMC_LLOYD_RUN(gmmc_lloyd_block_##SUFFIX, G_SMALL, upper, lower, bounds); \
        else                                                                   \
            GMMC_LLOYD_RUN(gmmc_lloyd_block_##SUFFIX, G_LARGE, upper, lower, bounds); \
        return;                                                                \
    }                                                                          \
    /* one copy of the loop per count, as gmmc_lloyd_rows_* */                 \
    if (kp <= 16)                                                              \
        gmmc_lloyd_bounded_run_##SUFFIX(G_SMALL, x, n, d, offset, ct, kp, c_sq, \
                                        weight, labels, sums, counts,          \
                                        n_changed, centred, upper, lower,      \
                                        bounds);                               \
    else                                                                       \
        gmmc_lloyd_bounded_run_##SUFFIX(G_LARGE, x, n, d, offset, ct, kp, c_sq, \
                                        weight, labels, sums, counts,          \
                                        n_changed, centred, upper, lower,      \
                                        bounds);                               \
}
GMMC_DEFINE_LLOYD_BOUNDED(d, double, g, 2, 4)
GMMC_DEFINE_LLOYD_BOUNDED(f, float, 2 * g, 1, 2)

#else  /* no AVX-512 kernels here: never called (gmmc_have_avx512() is 0) */

#define GMMC_LLOYD_MAX_K 32
#define GMMC_LLOYD_MIN_K 8
#define GMMC_LLOYD_MIN_K_F 10
static void gmmc_lloyd_rows_d(const double *x, int64_t n, int d, const double *offset,
                              const double *ct, int kp, const double *c_sq,
                              const double *weight, int *labels, double *sums,
                              double *counts, double *inertia, int64_t *n_changed,
                              double *centred)
{ (void)x; (void)n; (void)d; (void)offset; (void)ct; (void)kp; (void)c_sq; (void)weight;
  (void)labels; (void)sums; (void)counts; (void)inertia; (void)n_changed; (void)centred; }
static void gmmc_lloyd_rows_f(const float *x, int64_t n, int d, const double *offset,
                              const float *ct, int kp, const double *c_sq,
                              const float *weight, int *labels, double *sums,
                              double *counts, double *inertia, int64_t *n_changed,
                              float *centred)
{ (void)x; (void)n; (void)d; (void)offset; (void)ct; (void)kp; (void)c_sq; (void)weight;
  (void)labels; (void)sums; (void)counts; (void)inertia; (void)n_changed; (void)centred; }

static void gmmc_lloyd_bounded_rows_d(const double *x, int64_t n, int d, const double *offset,
                                      const double *ct, int kp, const double *c_sq,
                                      const double *weight, int *labels, double *sums,
                                      double *counts, int64_t *n_changed, double *centred,
                                      double *upper, double *lower,
                                      const GmmcLloydBounds *bounds)
{ (void)x; (void)n; (void)d; (void)offset; (void)ct; (void)kp; (void)c_sq; (void)weight;
  (void)labels; (void)sums; (void)counts; (void)n_changed; (void)centred; (void)upper;
  (void)lower; (void)bounds; }
static void gmmc_lloyd_bounded_rows_f(const float *x, int64_t n, int d, const double *offset,
                                      const float *ct, int kp, const double *c_sq,
                                      const float *weight, int *labels, double *sums,
                                      double *counts, int64_t *n_changed, float *centred,
                                      double *upper, double *lower,
                                      const GmmcLloydBounds *bounds)
{ (void)x; (void)n; (void)d; (void)offset; (void)ct; (void)kp; (void)c_sq; (void)weight;
  (void)labels; (void)sums; (void)counts; (void)n_changed; (void)centred; (void)upper;
  (void)lower; (void)bounds; }

static void gmmc_upper_quadratic_forms_d(const double *x, int n, int d, const double *mu,
                                         int dp, const double *u, double offset,
                                         double *out, int stride, double *z)
{ (void)x; (void)n; (void)d; (void)mu; (void)dp; (void)u; (void)offset; (void)out; (void)stride;
  (void)z; }
static void gmmc_upper_quadratic_forms_f(const float *x, int n, int d, const float *mu,
                                         int dp, const float *u, double offset,
                                         float *out, int stride, float *z)
{ (void)x; (void)n; (void)d; (void)mu; (void)dp; (void)u; (void)offset; (void)out; (void)stride;
  (void)z; }
static void gmmc_gram_upper_d(const double *z, int n, int dp, double *g)
{ (void)z; (void)n; (void)dp; (void)g; }
static void gmmc_gram_upper_f(const float *z, int n, int dp, float *g)
{ (void)z; (void)n; (void)dp; (void)g; }

static void gmmc_seed_distances_d(const double *x, int n, int d, const double *offset,
                                  const double *centers, int t, double *work, double *out,
                                  int64_t ld, const double *closest, const double *weight,
                                  double *lanes)
{ (void)x; (void)n; (void)d; (void)offset; (void)centers; (void)t; (void)work; (void)out; (void)ld;
  (void)closest; (void)weight; (void)lanes; }
static void gmmc_seed_distances_f(const float *x, int n, int d, const double *offset,
                                  const float *centers, int t, float *work, float *out,
                                  int64_t ld, const float *closest, const float *weight,
                                  double *lanes)
{ (void)x; (void)n; (void)d; (void)offset; (void)centers; (void)t; (void)work; (void)out; (void)ld;
  (void)closest; (void)weight; (void)lanes; }

#define GMMC_PRUNED_ROWS 256
#define GMMC_PRUNED_QUEUE (2 * (GMMC_PRUNED_ROWS + 16) + 2 * GMMC_PRUNED_ROWS / 32)
#define GMMC_DEFINE_SEED_PRUNED_STUB(SUFFIX, T)                                \
static void gmmc_seed_pruned_##SUFFIX(const T *x, int64_t n, int d, const double *offset, \
                                      const T *centers, int t, T *work, T *out, int64_t ld, \
                                      int out_moves, const T *closest, const T *weight, \
                                      double *lanes, const int32_t *labels,    \
                                      const double *min_limit, int kt, int32_t *queue) \
{ (void)x; (void)n; (void)d; (void)offset; (void)centers; (void)t; (void)work; (void)out; \
  (void)ld; (void)out_moves; (void)closest; (void)weight; (void)lanes; (void)labels; \
  (void)min_limit; (void)kt; (void)queue; }                                    \
static void gmmc_pruned_update_##SUFFIX(T *closest, int32_t *labels, const T *out, int64_t n, \
                                        int32_t label, const double *min_limit, int kt) \
{ (void)closest; (void)labels; (void)out; (void)n; (void)label; (void)min_limit; (void)kt; }
GMMC_DEFINE_SEED_PRUNED_STUB(d, double)
GMMC_DEFINE_SEED_PRUNED_STUB(f, float)

static inline int gmmc_full_pass_pays(int d, int k, int single)
{ (void)d; (void)k; (void)single; return 0; }
static inline size_t gmmc_full_pass_bytes(int d, int k, int itemsize)
{ (void)d; (void)k; (void)itemsize; return 64; }
#define GMMC_DEFINE_FULL_PASS_STUB(SUFFIX, T)                                  \
static double gmmc_full_pass_##SUFFIX(const T *x, int64_t n, int d, int k, const T *means, \
                                      const T *prec, const double *offset, const T *weight, \
                                      const double *shift, double *resp_sum, double *sum_x, \
                                      double *sum_xx, void *work)               \
{ (void)x; (void)n; (void)d; (void)k; (void)means; (void)prec; (void)offset; (void)weight; \
  (void)shift; (void)resp_sum; (void)sum_x; (void)sum_xx; (void)work; return 0.0; }
GMMC_DEFINE_FULL_PASS_STUB(d, double)
GMMC_DEFINE_FULL_PASS_STUB(f, float)

static inline int gmmc_diag_micro_pays(int d, int k, int spherical, int single)
{ (void)d; (void)k; (void)spherical; (void)single; return 0; }
static double gmmc_diag_pass_d(const double *x, int64_t n, int d, int k, int spherical,
                               const double *means, const double *prec, const double *offset,
                               const double *weight, const double *shift, double *resp_sum,
                               double *sum_x, double *sum_xx, double *pc, double *z,
                               double *cols, double *sums)
{ (void)x; (void)n; (void)d; (void)k; (void)spherical; (void)means; (void)prec; (void)offset;
  (void)weight; (void)shift; (void)resp_sum; (void)sum_x; (void)sum_xx; (void)pc; (void)z;
  (void)cols; (void)sums; return 0.0; }
static double gmmc_diag_pass_f(const float *x, int64_t n, int d, int k, int spherical,
                               const float *means, const float *prec, const double *offset,
                               const float *weight, const double *shift, double *resp_sum,
                               double *sum_x, double *sum_xx, float *pc, float *z,
                               float *cols, double *sums)
{ (void)x; (void)n; (void)d; (void)k; (void)spherical; (void)means; (void)prec; (void)offset;
  (void)weight; (void)shift; (void)resp_sum; (void)sum_x; (void)sum_xx; (void)pc; (void)z;
  (void)cols; (void)sums; return 0.0; }

#endif
#endif
