/* The element-wise loops of the EM kernels, written so the compiler
 * vectorises them. Wheels must run on any x86-64 CPU, so the default build
 * targets SSE2 only; on x86-64 Linux with GCC each function here is also
 * compiled for AVX2 and AVX-512 and the best version is picked at load time
 * (target_clones). Elsewhere they build once, for the baseline.
 *
 * Log-sum-exp: N x K exp() per EM iteration. libm's exp is scalar, so it is
 * written here as branch-free arithmetic.
 *
 * exp(t) for t <= 0: t = k ln2 + r with |r| <= ln2/2, exp(r) by its degree-12
 * Taylor polynomial (truncation error < 2e-16 relative), times 2^k assembled
 * in the exponent bits. Below t = -708 the result is flushed to 0: such a term
 * is under 1e-307 of the row's largest and cannot change the sum.
 */
#ifndef GMMC_VECTORIZED_H
#define GMMC_VECTORIZED_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* target_clones needs ifunc: glibc only (musl, so musllinux wheels, has none). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define GMMC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GMMC_CLONES
#endif

/* GCC's vector extension, for the block transposes of the fused passes
 * (plain loops without it, and for GMMC_PLAIN_LOOPS, which tests those). */
#if defined(__GNUC__) && !defined(__clang__) && !defined(GMMC_PLAIN_LOOPS)
#define GMMC_VECTOR_EXTENSIONS 1
#endif

/* restrict (C99) is __restrict to MSVC. */
#if defined(_MSC_VER)
#define GMMC_RESTRICT __restrict
#define GMMC_ALWAYS_INLINE __forceinline
#else
#define GMMC_RESTRICT restrict
#define GMMC_ALWAYS_INLINE inline __attribute__((always_inline))
#endif

static inline double gmmc_exp_nonpositive(double t)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double round_magic = 6755399441055744.0; /* 1.5 * 2^52 */
    double keep = t >= -708.0 ? 1.0 : 0.0;
    double x = t >= -708.0 ? t : -708.0;
    double shifted = x * log2e + round_magic; /* k in the low mantissa bits */
    double k = shifted - round_magic;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    /* low bits of `shifted` hold k (two's complement, |k| <= 1022) */
    int64_t exponent = ((bits & 0xFFFFF) ^ 0x80000) - 0x80000 + 1023;
    exponent <<= 52;
    double scale;
    memcpy(&scale, &exponent, sizeof scale);
    return p * scale * keep;
}

/* The same for float32 responsibilities, in float: exp(r) by its degree-7
 * Taylor polynomial (truncation error < 1e-8 relative, under float's 6e-8).
 * Below t = -86 the result is flushed to 0: the term is under 5e-38 of the
 * row's largest, and 2^k stays a normal number (no subnormal products). */
static inline float gmmc_expf_nonpositive(float t)
{
    const float log2e = 1.44269504f;
    const float ln2_hi = 0.693359375f; /* exact in 9 bits: k * ln2_hi is exact */
    const float ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23 */
    float keep = t >= -86.0f ? 1.0f : 0.0f;
    float x = t >= -86.0f ? t : -86.0f;
    float shifted = x * log2e + round_magic; /* k in the low mantissa bits */
    float k = shifted - round_magic;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    /* low bits of `shifted` hold k (two's complement, -125 <= k <= 0) */
    int32_t exponent = ((bits & 0x3FF) ^ 0x200) - 0x200 + 127;
    exponent <<= 23;
    float scale;
    memcpy(&scale, &exponent, sizeof scale);
    return p * scale * keep;
}

/* log(s) for s >= 1 (finite), branch-free so that a loop of them vectorises:
 * s = 2^e m with m in [sqrt(1/2), sqrt(2)), and log(m) = 2 atanh(u) with
 * u = (m - 1) / (m + 1), |u| <= 0.172, summed to u^21 (remainder < 1e-18). */
static inline double gmmc_log_at_least_one(double s)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double two52 = 4503599627370496.0;
    int64_t bits, e_bits;
    double m, e;
    memcpy(&bits, &s, sizeof bits);
    /* e as a double without an int64 -> double conversion (AVX-512DQ):
     * the exponent field in the low mantissa bits of 2^52, minus 2^52. */
    e_bits = ((bits >> 52) & 0x7FF) | 0x4330000000000000LL;
    memcpy(&e, &e_bits, sizeof e);
    e = e - (two52 + 1023.0);
    bits = (bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL; /* m in [1, 2) */
    memcpy(&m, &bits, sizeof m);
    e += m > 1.4142135623730951 ? 1.0 : 0.0;
    m = m > 1.4142135623730951 ? 0.5 * m : m;
    double u = (m - 1.0) / (m + 1.0), u2 = u * u;
    double p = 1.0 / 21;
    p = p * u2 + 1.0 / 19;
    p = p * u2 + 1.0 / 17;
    p = p * u2 + 1.0 / 15;
    p = p * u2 + 1.0 / 13;
    p = p * u2 + 1.0 / 11;
    p = p * u2 + 1.0 / 9;
    p = p * u2 + 1.0 / 7;
    p = p * u2 + 1.0 / 5;
    p = p * u2 + 1.0 / 3;
    p = p * u2 + 1.0;
    return e * ln2_hi + (e * ln2_lo + 2.0 * u * p);
}

/* Maximum and sum of a row of k values, in 8 independent lanes so that both
 * vectorise (a single running max or sum is a serial chain of dependent
 * instructions, ~4 cycles per element). */
#define GMMC_LANES 8
#define GMMC_DEFINE_ROW_REDUCTIONS(T, SUFFIX)                                   \
static inline double gmmc_row_max_##SUFFIX(const T *row, int k)                \
{                                                                              \
    double lanes[GMMC_LANES], m = -INFINITY;                                   \
    int j = 0;                                                                 \
    for (int l = 0; l < GMMC_LANES; l++)                                       \
        lanes[l] = -INFINITY;                                                  \
    for (; j + GMMC_LANES <= k; j += GMMC_LANES)                               \
        for (int l = 0; l < GMMC_LANES; l++)                                   \
            lanes[l] = row[j + l] > lanes[l] ? row[j + l] : lanes[l];          \
    for (; j < k; j++)                                                         \
        m = row[j] > m ? row[j] : m;                                           \
    for (int l = 0; l < GMMC_LANES; l++)                                       \
        m = lanes[l] > m ? lanes[l] : m;                                       \
    return m;                                                                  \
}                                                                              \
static inline double gmmc_row_sum_##SUFFIX(const T *row, int k)                \
{                                                                              \
    double lanes[GMMC_LANES] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0.0;              \
    int j = 0;                                                                 \
    for (; j + GMMC_LANES <= k; j += GMMC_LANES)                               \
        for (int l = 0; l < GMMC_LANES; l++)                                   \
            lanes[l] += row[j + l];                                            \
    for (; j < k; j++)                                                         \
        s += row[j];                                                           \
    for (int l = 0; l < GMMC_LANES; l++)                                       \
        s += lanes[l];                                                         \
    return s;                                                                  \
}

GMMC_DEFINE_ROW_REDUCTIONS(double, d)
GMMC_DEFINE_ROW_REDUCTIONS(float, f)

#define GMMC_BLOCK 64
#define GMMC_NARROW_K 16

/* A block of GMMC_BLOCK rows of k values to its columns (k, GMMC_BLOCK) and
 * back. With k a constant GCC turns these into vector permutes; with k
 * known only at run time each value is a scalar load and store (half of a
 * float32 log-sum-exp at K = 5), so the common widths get their own copies. */
#define GMMC_DEFINE_BLOCK_TRANSPOSE(T, SUFFIX)                                  \
static GMMC_ALWAYS_INLINE void gmmc_to_cols_k_##SUFFIX(                        \
    const T *GMMC_RESTRICT rows, int k, T *GMMC_RESTRICT cols)                 \
{                                                                              \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        for (int j = 0; j < k; j++)                                            \
            cols[j * GMMC_BLOCK + i] = rows[i * k + j];                        \
}                                                                              \
static GMMC_ALWAYS_INLINE void gmmc_to_rows_k_##SUFFIX(                        \
    const T *GMMC_RESTRICT cols, int k, T *GMMC_RESTRICT rows)                 \
{                                                                              \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        for (int j = 0; j < k; j++)                                            \
            rows[i * k + j] = cols[j * GMMC_BLOCK + i];                        \
}                                                                              \
static GMMC_ALWAYS_INLINE void gmmc_block_transpose_##SUFFIX(                  \
    T *rows, int k, T *cols, int to_cols)                                      \
{                                                                              \
    switch (k) {                                                               \
    case 2: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 2, cols)                   \
                    : gmmc_to_rows_k_##SUFFIX(cols, 2, rows); break;           \
    case 3: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 3, cols)                   \
                    : gmmc_to_rows_k_##SUFFIX(cols, 3, rows); break;           \
    case 4: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 4, cols)                   \
                    : gmmc_to_rows_k_##SUFFIX(cols, 4, rows); break;           \
    case 5: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 5, cols)                   \
                    : gmmc_to_rows_k_##SUFFIX(cols, 5, rows); break;           \
    case 6: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 6, cols)                   \
                    : gmmc_to_rows_k_##SUFFIX(cols, 6, rows); break;           \
    case 8: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 8, cols)                   \
                    : gmmc_to_rows_k_##SUFFIX(cols, 8, rows); break;           \
    case 16: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, 16, cols)                 \
                     : gmmc_to_rows_k_##SUFFIX(cols, 16, rows); break;         \
    default: to_cols ? gmmc_to_cols_k_##SUFFIX(rows, k, cols)                  \
                     : gmmc_to_rows_k_##SUFFIX(cols, k, rows);                 \
    }                                                                          \
}

GMMC_DEFINE_BLOCK_TRANSPOSE(double, d)
GMMC_DEFINE_BLOCK_TRANSPOSE(float, f)

/* lanes (GMMC_LANES) += v (GMMC_BLOCK), value i into lane i % GMMC_LANES:
 * a block's sum without a serial chain, in an order fixed by position.
 * (One sum per call: two into one array in one loop stay scalar.) */
static GMMC_ALWAYS_INLINE void gmmc_add_lanes(double *GMMC_RESTRICT lanes,
                                              const double *GMMC_RESTRICT v)
{
    for (int i = 0; i < GMMC_BLOCK; i += GMMC_LANES)
        for (int l = 0; l < GMMC_LANES; l++)
            lanes[l] += v[i + l];
}

/* The same for the products u v. */
static GMMC_ALWAYS_INLINE void gmmc_add_product_lanes(double *GMMC_RESTRICT lanes,
                                                      const double *GMMC_RESTRICT u,
                                                      const double *GMMC_RESTRICT v)
{
    for (int i = 0; i < GMMC_BLOCK; i += GMMC_LANES)
        for (int l = 0; l < GMMC_LANES; l++)
            lanes[l] += u[i + l] * v[i + l];
}

static GMMC_ALWAYS_INLINE double gmmc_lanes_total(const double *lanes)
{
    double total = 0.0;
    for (int l = 0; l < GMMC_LANES; l++)
        total += lanes[l];
    return total;
}

/* The log-sum-exp of one block held as columns, cols (k, GMMC_BLOCK): each
 * column becomes its responsibilities times wts[i]; lns[i] := its log-norm;
 * lanes (GMMC_LANES) += wts[i] * lns[i] over the first `rows` columns (a zero
 * weight drops even a -inf row). */
#define GMMC_DEFINE_NORMALIZE_COLUMNS(T, SUFFIX, TINY, EXP, ABS)                \
static GMMC_ALWAYS_INLINE void gmmc_normalize_cols_##SUFFIX(                   \
    T *GMMC_RESTRICT cols, int k, int rows, const double *GMMC_RESTRICT wts,   \
    double *GMMC_RESTRICT lns, double *GMMC_RESTRICT lanes)                    \
{                                                                              \
    T maxes[GMMC_BLOCK], shift[GMMC_BLOCK], sums[GMMC_BLOCK], scale[GMMC_BLOCK]; \
    double logs[GMMC_BLOCK], terms[GMMC_BLOCK];                                \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        maxes[i] = -INFINITY;                                                  \
    for (int j = 0; j < k; j++) {                                              \
        const T *col = cols + (int64_t)j * GMMC_BLOCK;                         \
        for (int i = 0; i < GMMC_BLOCK; i++) /* NaN skipped: */                \
            maxes[i] = col[i] > maxes[i] ? col[i] : maxes[i];                  \
    }                                                                          \
    for (int i = 0; i < GMMC_BLOCK; i++) {                                     \
        shift[i] = maxes[i] == -INFINITY ? (T)0 : maxes[i];                    \
        sums[i] = 0;                                                           \
    }                                                                          \
    for (int j = 0; j < k; j++) {                                              \
        T *col = cols + (int64_t)j * GMMC_BLOCK;                               \
        for (int i = 0; i < GMMC_BLOCK; i++) {                                 \
            col[i] = EXP(col[i] - shift[i]);                                   \
            sums[i] += col[i];                                                 \
        }                                                                      \
    }                                                                          \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        logs[i] = gmmc_log_at_least_one(sums[i] >= 1 ? (double)sums[i] : 1.0); \
    /* Every row but those of -inf, NaN or infinite terms (a sum >= 1,        \
     * finite), without a branch; those rare rows are redone below. */        \
    int rare = 0;                                                              \
    for (int i = 0; i < GMMC_BLOCK; i++) {                                     \
        double s = sums[i];                                                    \
        rare |= !(maxes[i] > -INFINITY && s >= 1.0 && s < INFINITY);           \
        lns[i] = maxes[i] + logs[i];                                           \
        /* a zero weight gives zeros, even for a row of -inf (0 / 0): the     \
         * block's padding past `rows` too, which the fix-up below skips */   \
        scale[i] = wts[i] != 0 ? (T)(wts[i] / s) : (T)0;                       \
    }                                                                          \
    for (int i = 0; rare && i < rows; i++) {                                   \
        double s = sums[i];                                                    \
        if (maxes[i] == -INFINITY) {                                           \
            lns[i] = -INFINITY;                                                \
            scale[i] = 1; /* the row is all zeros already */                   \
        } else if (!(s >= 1.0 && s < INFINITY)) {                              \
            lns[i] = maxes[i] + log(s);                                        \
        }                                                                      \
    }                                                                          \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        terms[i] = i < rows && wts[i] != 0 ? wts[i] * lns[i] : 0.0;            \
    gmmc_add_lanes(lanes, terms);                                              \
    for (int j = 0; j < k; j++) {                                              \
        T *col = cols + (int64_t)j * GMMC_BLOCK;                               \
        for (int i = 0; i < GMMC_BLOCK; i++) {                                 \
            T r = col[i] * scale[i];                                           \
            col[i] = ABS(r) < TINY ? (T)0 : r;                                 \
        }                                                                      \
    }                                                                          \
}

GMMC_DEFINE_NORMALIZE_COLUMNS(double, d, DBL_MIN, gmmc_exp_nonpositive, fabs)
GMMC_DEFINE_NORMALIZE_COLUMNS(float, f, FLT_MIN, gmmc_expf_nonpositive, fabsf)

/* The log-sum-exp of gmmc_normalize_rows_* below, for k <= GMMC_NARROW_K,
 * where a row is shorter than a vector or two: the block is transposed into
 * cols (k, GMMC_BLOCK), so that the maximum, exp, sum and scaling all run
 * down columns, vectorised across rows. (Row by row, K = 5 left the
 * reductions scalar: 12 ns per row.) float32 rows are worked in float with a
 * float exp, twice the lanes of double and a shorter polynomial (its rows'
 * log-norms still come from a float64 log): the exp was half of a float32
 * posterior at D = 2, K = 5.
 * Columns are addressed through pointers: under -fwrapv (Python's flags) an
 * int index j * GMMC_BLOCK + i may wrap, and GCC then leaves the loop scalar.
 * The loops run over whole blocks (the last one padded with zeros): without
 * a scalar remainder loop, a row's result does not depend on its position. */
#define GMMC_DEFINE_NORMALIZE_NARROW(NAME, T, SUFFIX)                           \
GMMC_CLONES static double NAME(T *lp, int n, int k, const T *weight,           \
                               T *log_norm)                                    \
{                                                                              \
    T cols[GMMC_NARROW_K * GMMC_BLOCK];                                        \
    double lns[GMMC_BLOCK], wts[GMMC_BLOCK];                                   \
    double lanes[GMMC_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                       \
    for (int first = 0; first < n; first += GMMC_BLOCK) {                      \
        int rows = n - first < GMMC_BLOCK ? n - first : GMMC_BLOCK;            \
        T *block = lp + (int64_t)first * k;                                    \
        if (rows == GMMC_BLOCK)                                                \
            gmmc_block_transpose_##SUFFIX(block, k, cols, 1);                  \
        else                                                                   \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                for (int j = 0; j < k; j++) /* rows past the end: zeros */     \
                    cols[j * GMMC_BLOCK + i] =                                 \
                        i < rows ? block[(int64_t)i * k + j] : (T)0;           \
        for (int i = 0; i < GMMC_BLOCK; i++)                                   \
            wts[i] = weight && i < rows ? (double)weight[first + i] : 1.0;     \
        gmmc_normalize_cols_##SUFFIX(cols, k, rows, wts, lns, lanes);          \
        for (int i = 0; log_norm && i < rows; i++)                             \
            log_norm[first + i] = (T)lns[i];                                   \
        if (rows == GMMC_BLOCK)                                                \
            gmmc_block_transpose_##SUFFIX(block, k, cols, 0);                  \
        else                                                                   \
            for (int i = 0; i < rows; i++)                                     \
                for (int j = 0; j < k; j++)                                    \
                    block[(int64_t)i * k + j] = cols[j * GMMC_BLOCK + i];      \
    }                                                                          \
    return gmmc_lanes_total(lanes);                                            \
}

GMMC_DEFINE_NORMALIZE_NARROW(gmmc_normalize_rows_d_narrow, double, d)
GMMC_DEFINE_NORMALIZE_NARROW(gmmc_normalize_rows_f_narrow, float, f)

/* For each of the n rows of lp (n, k): row := exp(row - max) / sum * weight[i]
 * (weight may be NULL) and log_norm[i] := log(sum exp(row)) (log_norm may be
 * NULL). Returns sum_i weight_i * log_norm_i. A row whose maximum is -inf
 * becomes all zeros with log-norm -inf. Responsibilities below the type's
 * smallest normal number (TINY) become 0: a subnormal operand takes a slow
 * microcode path in every later product (float32 E-steps ran 4x slower).
 * Rows go in blocks of GMMC_BLOCK so that the exp loop runs over a long,
 * contiguous, reduction-free stretch of memory: that is the loop to vectorise. */
#define GMMC_DEFINE_NORMALIZE(NAME, T, SUFFIX, TINY)                              \
GMMC_CLONES static double NAME(T *lp, int n, int k, const T *weight,           \
                               T *log_norm)                                    \
{                                                                              \
    double total = 0.0;                                                        \
    double maxes[GMMC_BLOCK], sums[GMMC_BLOCK], logs[GMMC_BLOCK];              \
    if (k <= GMMC_NARROW_K)                                                    \
        return NAME##_narrow(lp, n, k, weight, log_norm);                      \
    for (int first = 0; first < n; first += GMMC_BLOCK) {                      \
        int rows = n - first < GMMC_BLOCK ? n - first : GMMC_BLOCK;            \
        T *block = lp + (int64_t)first * k;                                    \
        for (int i = 0; i < rows; i++) {                                       \
            T *row = block + (int64_t)i * k;                                   \
            double m = gmmc_row_max_##SUFFIX(row, k);                          \
            maxes[i] = m;                                                      \
            if (m == -INFINITY)                                                \
                m = 0.0; /* all terms are -inf: exp gives zeros */             \
            for (int j = 0; j < k; j++)                                        \
                row[j] = (T)(row[j] - m);                                      \
        }                                                                      \
        for (int64_t idx = 0; idx < (int64_t)rows * k; idx++) {                \
            double e = gmmc_exp_nonpositive((double)block[idx]);               \
            block[idx] = e >= TINY ? (T)e : (T)0;                              \
        }                                                                      \
        /* The row maximum contributes exp(0) = 1, so a sum is >= 1 unless   \
         * the row holds NaN or infinities: those take libm's log below. */   \
        for (int i = 0; i < rows; i++)                                         \
            sums[i] = gmmc_row_sum_##SUFFIX(block + (int64_t)i * k, k);        \
        for (int i = 0; i < rows; i++)                                         \
            logs[i] = gmmc_log_at_least_one(sums[i] >= 1.0 ? sums[i] : 1.0);   \
        for (int i = 0; i < rows; i++) {                                       \
            T *row = block + (int64_t)i * k;                                   \
            const T *w = weight ? weight + first + i : NULL;                   \
            double s = sums[i], ln;                                            \
            if (maxes[i] == -INFINITY) {                                       \
                ln = -INFINITY;                                                \
            } else {                                                           \
                double scale = (w ? (double)*w : 1.0) / s;                     \
                ln = maxes[i] + (s >= 1.0 && s < INFINITY ? logs[i] : log(s)); \
                for (int j = 0; j < k; j++) {                                  \
                    double r = row[j] * scale;                                 \
                    row[j] = fabs(r) < TINY ? (T)0 : (T)r;                     \
                }                                                              \
            }                                                                  \
            if (log_norm)                                                      \
                log_norm[first + i] = (T)ln;                                   \
            if (!w || *w != 0) /* a zero weight drops even a -inf row */      \
                total += w ? (double)*w * ln : ln;                             \
        }                                                                      \
    }                                                                          \
    return total;                                                              \
}

GMMC_DEFINE_NORMALIZE(gmmc_normalize_rows_d, double, d, DBL_MIN)
GMMC_DEFINE_NORMALIZE(gmmc_normalize_rows_f, float, f, FLT_MIN)

/* out (n, d) := x (n, d) - mu (d,). */
#define GMMC_DEFINE_CENTER(NAME, T)                                             \
GMMC_CLONES static void NAME(const T *x, int n, int d, const T *mu, T *out)    \
{                                                                              \
    for (int i = 0; i < n; i++)                                                \
        for (int a = 0; a < d; a++)                                            \
            out[(int64_t)i * d + a] = x[(int64_t)i * d + a] - mu[a];           \
}

/* out[i * stride] := offset - 0.5 * ||y_i||^2 for the rows of y (n, d); the
 * squares go into 8 independent lanes so the sum vectorises. */
#define GMMC_DEFINE_HALF_SQ_NORMS(NAME, T)                                      \
GMMC_CLONES static void NAME(const T *y, int n, int d, double offset, T *out,  \
                             int stride)                                       \
{                                                                              \
    for (int i = 0; i < n; i++) {                                              \
        const T *row = y + (int64_t)i * d;                                     \
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0.0;                   \
        int a = 0;                                                             \
        for (; a + 8 <= d; a += 8)                                             \
            for (int l = 0; l < 8; l++)                                        \
                lanes[l] += (double)row[a + l] * row[a + l];                   \
        for (; a < d; a++)                                                     \
            s += (double)row[a] * row[a];                                      \
        for (int l = 0; l < 8; l++)                                            \
            s += lanes[l];                                                     \
        out[(int64_t)i * stride] = (T)(offset - 0.5 * s);                      \
    }                                                                          \
}

/* For component j: out (m, d) := sqrt(r_i) (x_i - ref) for the m rows of
 * r_i != 0, in order, rows out_stride >= d apart with zeros past d (*rows :=
 * m), and sum_x (d,) += sum_i r_i (x_i - ref), with r_i = resp[i * stride].
 * Returns sum_i r_i.
 * Four rows at a time: sum_x is a chain through memory from one update to the
 * next, so each update adds four rows' terms (the same terms whichever of
 * them are 0). A row of r_i = 0 adds exactly nothing to either sum, and far
 * from its component most of a row's responsibilities are 0 (flushed below
 * the smallest normal number): 64 % of them on digits, K = 10. Leaving those
 * rows out of ``out`` leaves them out of the Gram matrix that follows. */
#define GMMC_DEFINE_WEIGHTED_CENTER(NAME, T)                                    \
GMMC_CLONES static double NAME(const T *GMMC_RESTRICT x, int n, int d,         \
                               const double *GMMC_RESTRICT ref,                \
                               const T *GMMC_RESTRICT resp, int stride,        \
                               T *GMMC_RESTRICT out, int out_stride,           \
                               double *GMMC_RESTRICT sum_x, int *rows)         \
{                                                                              \
    double total = 0.0;                                                        \
    int i = 0, m = 0;                                                          \
    for (; i + 4 <= n; i += 4) {                                               \
        double r0 = resp[(int64_t)i * stride], r1 = resp[(int64_t)(i + 1) * stride]; \
        double r2 = resp[(int64_t)(i + 2) * stride], r3 = resp[(int64_t)(i + 3) * stride]; \
        double q0 = sqrt(r0), q1 = sqrt(r1), q2 = sqrt(r2), q3 = sqrt(r3);     \
        const T *x0 = x + (int64_t)i * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d; \
        const int kept = (r0 != 0.0) + (r1 != 0.0) + (r2 != 0.0) + (r3 != 0.0); \
        total += (r0 + r1) + (r2 + r3);                                        \
        if (kept == 0)                                                         \
            continue;                                                          \
        if (kept == 4) {                                                       \
            T *o0 = out + (int64_t)m * out_stride, *o1 = o0 + out_stride;      \
            T *o2 = o1 + out_stride, *o3 = o2 + out_stride;                    \
            for (int a = 0; a < d; a++) {                                      \
                double t0 = x0[a] - ref[a], t1 = x1[a] - ref[a];               \
                double t2 = x2[a] - ref[a], t3 = x3[a] - ref[a];               \
                sum_x[a] += (r0 * t0 + r1 * t1) + (r2 * t2 + r3 * t3);         \
                o0[a] = (T)(q0 * t0);                                          \
                o1[a] = (T)(q1 * t1);                                          \
                o2[a] = (T)(q2 * t2);                                          \
                o3[a] = (T)(q3 * t3);                                          \
            }                                                                  \
            m += 4;                                                            \
            continue;                                                          \
        }                                                                      \
        for (int a = 0; a < d; a++) {                                          \
            double t0 = x0[a] - ref[a], t1 = x1[a] - ref[a];                   \
            double t2 = x2[a] - ref[a], t3 = x3[a] - ref[a];                   \
            sum_x[a] += (r0 * t0 + r1 * t1) + (r2 * t2 + r3 * t3);             \
        }                                                                      \
        const T *group[4] = {x0, x1, x2, x3};                                  \
        const double root[4] = {q0, q1, q2, q3}, weight[4] = {r0, r1, r2, r3}; \
        for (int g = 0; g < 4; g++) {                                          \
            if (weight[g] == 0.0)                                              \
                continue;                                                      \
            const T *row = group[g];                                           \
            T *dst = out + (int64_t)m * out_stride;                            \
            for (int a = 0; a < d; a++)                                        \
                dst[a] = (T)(root[g] * (row[a] - ref[a]));                     \
            m++;                                                               \
        }                                                                      \
    }                                                                          \
    for (; i < n; i++) {                                                       \
        double r = resp[(int64_t)i * stride], q = sqrt(r);                     \
        const T *row = x + (int64_t)i * d;                                     \
        T *dst = out + (int64_t)m * out_stride;                                \
        total += r;                                                            \
        if (r == 0.0)                                                          \
            continue;                                                          \
        for (int a = 0; a < d; a++) {                                          \
            double t = row[a] - ref[a];                                        \
            sum_x[a] += r * t;                                                 \
            dst[a] = (T)(q * t);                                               \
        }                                                                      \
        m++;                                                                   \
    }                                                                          \
    for (i = 0; i < m && out_stride > d; i++)                                  \
        for (int a = d; a < out_stride; a++)                                   \
            out[(int64_t)i * out_stride + a] = 0;                              \
    *rows = m;                                                                 \
    return total;                                                              \
}

/* Full covariances take the feature path up to this many features: beyond
 * it the (rows, F) feature matrix, F ~ D^2 / 2, no longer fits in cache. */
#define GMMC_FEATURE_MAX_D 32

/* phi (n, F) := [q(x'), x', 1] with x' = x - center, where q holds, by its
 * size n_quad: the products x'_a x'_b, a <= b (d(d+1)/2, needs d <=
 * GMMC_FEATURE_MAX_D), the squares x'_a^2 (d) or their sum ||x'||^2 (1).
 * x is read as TX, everything else is T: float32 input with T = double gives
 * features whose rounding is float64's (the float64-feature path of _em.pyx).
 * Every store goes through restrict pointers that cannot alias the values
 * read, so each run of products is one vectorised loop. */
#define GMMC_DEFINE_FEATURES(NAME, TX, T)                                       \
static GMMC_ALWAYS_INLINE void NAME##_rows(const TX *GMMC_RESTRICT x, int n,   \
                                           int d,                              \
                                           const T *GMMC_RESTRICT center,      \
                                           int n_quad, T *GMMC_RESTRICT phi)   \
{                                                                              \
    int n_feat = n_quad + d + 1;                                               \
    T centered[GMMC_FEATURE_MAX_D];                                            \
    for (int i = 0; i < n; i++) {                                              \
        const TX *GMMC_RESTRICT xi = x + (int64_t)i * d;                       \
        T *GMMC_RESTRICT row = phi + (int64_t)i * n_feat;                      \
        T *GMMC_RESTRICT lin = row + n_quad;                                   \
        for (int a = 0; a < d; a++)                                            \
            lin[a] = (T)xi[a] - center[a];                                     \
        lin[d] = 1;                                                            \
        if (n_quad == d) {                                                     \
            for (int a = 0; a < d; a++) {                                      \
                T t = (T)xi[a] - center[a];                                    \
                row[a] = t * t;                                                \
            }                                                                  \
        } else if (n_quad == 1) {                                              \
            double s = 0.0;                                                    \
            for (int a = 0; a < d; a++) {                                      \
                double t = xi[a] - center[a];                                  \
                s += t * t;                                                    \
            }                                                                  \
            row[0] = (T)s;                                                     \
        } else {                                                               \
            for (int a = 0; a < d; a++)                                        \
                centered[a] = (T)xi[a] - center[a];                            \
            T *GMMC_RESTRICT q = row;                                          \
            for (int a = 0; a < d; a++) {                                      \
                T xa = centered[a];                                            \
                for (int b = a; b < d; b++)                                    \
                    q[b - a] = xa * centered[b];                               \
                q += d - a;                                                    \
            }                                                                  \
        }                                                                      \
    }                                                                          \
}                                                                              \
/* Tiny widths get their own copy with d a constant, fully unrolled: their    \
 * loops are too short for the loop overhead. */                              \
GMMC_CLONES static void NAME(const TX *x, int n, int d, const T *center,       \
                             int n_quad, T *phi)                               \
{                                                                              \
    switch (d) {                                                               \
    case 1: NAME##_rows(x, n, 1, center, n_quad, phi); break;                  \
    case 2: NAME##_rows(x, n, 2, center, n_quad, phi); break;                  \
    case 3: NAME##_rows(x, n, 3, center, n_quad, phi); break;                  \
    case 4: NAME##_rows(x, n, 4, center, n_quad, phi); break;                  \
    case 5: NAME##_rows(x, n, 5, center, n_quad, phi); break;                  \
    case 6: NAME##_rows(x, n, 6, center, n_quad, phi); break;                  \
    case 7: NAME##_rows(x, n, 7, center, n_quad, phi); break;                  \
    case 8: NAME##_rows(x, n, 8, center, n_quad, phi); break;                  \
    default: NAME##_rows(x, n, d, center, n_quad, phi);                        \
    }                                                                          \
}

/* acc (count,) += src (count,), the float64 accumulators of a BLAS result. */
#define GMMC_DEFINE_ADD(NAME, T)                                                \
GMMC_CLONES static void NAME(double *GMMC_RESTRICT acc, const T *GMMC_RESTRICT src,      \
                             int64_t count)                                    \
{                                                                              \
    for (int64_t idx = 0; idx < count; idx++)                                  \
        acc[idx] += src[idx];                                                  \
}

/* Copies between the float32 and float64 buffers of the float64-feature
 * path: its float64 log-densities go to float32 rows, and the float32
 * responsibilities to float64 for the statistics GEMM. */
GMMC_CLONES static void gmmc_narrow(const double *GMMC_RESTRICT src, int64_t count,
                                    float *GMMC_RESTRICT dst)
{
    for (int64_t idx = 0; idx < count; idx++)
        dst[idx] = (float)src[idx];
}

GMMC_CLONES static void gmmc_widen(const float *GMMC_RESTRICT src, int64_t count,
                                   double *GMMC_RESTRICT dst)
{
    for (int64_t idx = 0; idx < count; idx++)
        dst[idx] = src[idx];
}

/* The per-component path of full covariances at D <= GMMC_SMALL_D, where one
 * row is shorter than a vector: both kernels run across GMMC_SMALL_ROWS rows
 * at a time, a row per lane, with the rows transposed into z (D, rows) first
 * (the last block padded with zeros, so there is no scalar remainder loop).
 * (The AVX-512 micro-kernels run along a row, padded to 8 or 16 values, and
 * BLAS's trmm/syrk calls cost more than their work at these sizes.) Each
 * component transposes its rows again, which outweighs the gain from D = 5
 * (float32) or 4 (float64) on (100 000 rows, K = 8, E-step and statistics,
 * one AVX-512 core: float32 6.4 against 12.9 ms at D = 2, 10.7 against 14.6
 * at D = 4, 14.2 against 14.9 at D = 5; float64 5.2 against 7.3, 8.5 against
 * 8.1, 10.2 against 8.7). */
#define GMMC_SMALL_D 4
#define GMMC_SMALL_ROWS 16

/* out[i * stride] := offset - 0.5 ||(x_i - mu) U||^2 for the n rows of x (n, d),
 * U (d, d) upper triangular. */
#define GMMC_DEFINE_SMALL_QUADRATIC_FORMS(NAME, T)                              \
GMMC_CLONES static void NAME(const T *x, int n, int d, const T *mu,            \
                             const T *u, double offset, T *out, int stride)    \
{                                                                              \
    T z[GMMC_SMALL_D][GMMC_SMALL_ROWS], y[GMMC_SMALL_ROWS], q[GMMC_SMALL_ROWS];  \
    for (int first = 0; first < n; first += GMMC_SMALL_ROWS) {                 \
        int rows = n - first < GMMC_SMALL_ROWS ? n - first : GMMC_SMALL_ROWS;  \
        const T *block = x + (int64_t)first * d;                               \
        for (int a = 0; a < d; a++)                                            \
            for (int l = 0; l < GMMC_SMALL_ROWS; l++)                          \
                z[a][l] = l < rows ? block[(int64_t)l * d + a] - mu[a] : (T)0; \
        for (int l = 0; l < GMMC_SMALL_ROWS; l++)                              \
            q[l] = 0;                                                          \
        for (int c = 0; c < d; c++) {                                          \
            for (int l = 0; l < GMMC_SMALL_ROWS; l++)                          \
                y[l] = 0;                                                      \
            for (int a = 0; a <= c; a++) {                                     \
                T coefficient = u[a * d + c];                                  \
                for (int l = 0; l < GMMC_SMALL_ROWS; l++)                      \
                    y[l] += z[a][l] * coefficient;                             \
            }                                                                  \
            for (int l = 0; l < GMMC_SMALL_ROWS; l++)                          \
                q[l] += y[l] * y[l];                                           \
        }                                                                      \
        for (int l = 0; l < rows; l++)                                         \
            out[(int64_t)(first + l) * stride] = (T)(offset - 0.5 * (double)q[l]); \
    }                                                                          \
}

/* g (d, d) := z^T z on and above the diagonal (below it: left as it was), for
 * z (n, d); each lane sums its own rows, the lanes are added at the end. */
#define GMMC_DEFINE_SMALL_GRAM(NAME, T)                                         \
GMMC_CLONES static void NAME(const T *z, int n, int d, T *g)                   \
{                                                                              \
    T zt[GMMC_SMALL_D][GMMC_SMALL_ROWS];                                       \
    T acc[GMMC_SMALL_D * (GMMC_SMALL_D + 1) / 2][GMMC_SMALL_ROWS];             \
    int n_pairs = d * (d + 1) / 2;                                             \
    for (int p = 0; p < n_pairs; p++)                                          \
        for (int l = 0; l < GMMC_SMALL_ROWS; l++)                              \
            acc[p][l] = 0;                                                     \
    for (int first = 0; first < n; first += GMMC_SMALL_ROWS) {                 \
        int rows = n - first < GMMC_SMALL_ROWS ? n - first : GMMC_SMALL_ROWS;  \
        const T *block = z + (int64_t)first * d;                               \
        for (int a = 0; a < d; a++)                                            \
            for (int l = 0; l < GMMC_SMALL_ROWS; l++)                          \
                zt[a][l] = l < rows ? block[(int64_t)l * d + a] : (T)0;        \
        for (int a = 0, p = 0; a < d; a++)                                     \
            for (int b = a; b < d; b++, p++)                                   \
                for (int l = 0; l < GMMC_SMALL_ROWS; l++)                      \
                    acc[p][l] += zt[a][l] * zt[b][l];                          \
    }                                                                          \
    for (int a = 0, p = 0; a < d; a++)                                         \
        for (int b = a; b < d; b++, p++) {                                     \
            T total = 0;                                                       \
            for (int l = 0; l < GMMC_SMALL_ROWS; l++)                          \
                total += acc[p][l];                                            \
            g[a * d + b] = total;                                              \
        }                                                                      \
}

/* Steps shared by the fused passes below. gmmc_load_block_*: xt (d,
 * GMMC_BLOCK) := the block's rows transposed (zeros past `rows`), wts :=
 * their weights (0 past `rows`). A full block's first d - d % 8 columns go
 * by 8 x 8 tiles, each transposed in registers by GCC's vector shuffles
 * (element by element, it cost a third of a diag pass at D = 32); the rest,
 * with d a constant, by vector permutes the compiler finds itself. */
#if defined(GMMC_VECTOR_EXTENSIONS)
#define GMMC_TILE_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (index){__VA_ARGS__})
#define GMMC_TRANSPOSE_TILES(T, INDEX_T)                                       \
    typedef T tile_row __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)))); \
    typedef INDEX_T index __attribute__((vector_size(8 * sizeof(T))));         \
    for (; a0 + 8 <= d; a0 += 8)                                               \
        for (int i0 = 0; i0 < GMMC_BLOCK; i0 += 8) {                           \
            tile_row r[8], s[8], t[8];                                         \
            for (int q = 0; q < 8; q++)                                        \
                r[q] = *(const tile_row *)(block + (int64_t)(i0 + q) * d + a0); \
            for (int q = 0; q < 8; q += 2) {  /* pairs of rows, interleaved */ \
                s[q] = GMMC_TILE_SHUFFLE(r[q], r[q + 1], 0, 8, 2, 10, 4, 12, 6, 14); \
                s[q + 1] = GMMC_TILE_SHUFFLE(r[q], r[q + 1], 1, 9, 3, 11, 5, 13, 7, 15); \
            }                                                                  \
            for (int q = 0; q < 8; q += 4)  /* then pairs of pairs */          \
                for (int e = 0; e < 2; e++) {                                  \
                    t[q + e] = GMMC_TILE_SHUFFLE(s[q + e], s[q + e + 2],       \
                                                 0, 1, 8, 9, 4, 5, 12, 13);    \
                    t[q + e + 2] = GMMC_TILE_SHUFFLE(s[q + e], s[q + e + 2],   \
                                                     2, 3, 10, 11, 6, 7, 14, 15); \
                }                                                              \
            for (int c = 0; c < 4; c++) {  /* then the two halves of rows */   \
                *(tile_row *)(xt[a0 + c] + i0) = GMMC_TILE_SHUFFLE(            \
                    t[c], t[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);                 \
                *(tile_row *)(xt[a0 + c + 4] + i0) = GMMC_TILE_SHUFFLE(        \
                    t[c], t[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);               \
            }                                                                  \
        }
#else
#define GMMC_TRANSPOSE_TILES(T, INDEX_T)
#endif
#define GMMC_DEFINE_LOAD_BLOCK(T, SUFFIX, INDEX_T)                             \
static GMMC_ALWAYS_INLINE void gmmc_load_block_##SUFFIX(                       \
    const T *GMMC_RESTRICT block, int rows, int d, const T *GMMC_RESTRICT weight, \
    T (*GMMC_RESTRICT xt)[GMMC_BLOCK], double *GMMC_RESTRICT wts)              \
{                                                                              \
    if (rows == GMMC_BLOCK) {                                                  \
        int a0 = 0;                                                            \
        GMMC_TRANSPOSE_TILES(T, INDEX_T)                                       \
        if (a0 < d) {                                                          \
            const T *row = block;                                              \
            for (int i = 0; i < GMMC_BLOCK; i++, row += d)                     \
                for (int a = a0; a < d; a++)                                   \
                    xt[a][i] = row[a];                                         \
        }                                                                      \
    } else {                                                                   \
        for (int a = 0; a < d; a++)                                            \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                xt[a][i] = i < rows ? block[i * d + a] : (T)0;                 \
    }                                                                          \
    for (int i = 0; i < GMMC_BLOCK; i++)                                       \
        wts[i] = i >= rows ? 0.0 : weight ? (double)weight[i] : 1.0;           \
}

GMMC_DEFINE_LOAD_BLOCK(double, d, int64_t)
GMMC_DEFINE_LOAD_BLOCK(float, f, int32_t)

/* A whole E-step and statistics pass of full covariances with few
 * components, fused block by block: the feature GEMMs' BLAS calls on K output
 * columns, their (n, F) features and the log-sum-exp's transposes took most
 * of such a pass. Each block of GMMC_BLOCK rows is transposed once
 * (d, GMMC_BLOCK) and everything runs down its columns, vectorised across
 * rows: in the input's type T each component's log-density from x - mu_j
 * (y = (x - mu_j)^T U_j, as the per-component path) and the block's
 * log-sum-exp (gmmc_normalize_cols_*); in float64 the weighted moments about
 * shift_j, GMMC_LANES lanes per sum. Adds to resp_sum (K,), sum_x (K, D) and
 * the upper triangles of sum_xx (K, D, D); returns sum_i w_i log p(x_i).
 * prec: the upper factors U_j. acc: GMMC_SMALL_FULL_ACC(d, k) zeroed doubles.
 *
 * Its work, like the GEMMs', grows as K D^2; it is taken up to D = 32 and
 * D * K = 384 (gmmc_small_full_pass_pays). One pass of 100 000 rows, one
 * thread, float64 / float32, fused against the feature or per-component
 * paths: D = 8, K = 5 2.3 / 1.7 against 5.3 / 5.3 ms; D = 16, K = 5 6.0 /
 * 4.7 against 12.9 / 12.7; D = 32, K = 5 20 / 15 against 35 / 34; D = 24,
 * K = 16 35.1 / 26.7 against 35.6 / 34.1; D = 32, K = 16 (past the bound)
 * 59.9 / 49.5 against 57.3 / 53.4. */
#define GMMC_FUSED_FULL_MAX_D 32
#define GMMC_FUSED_FULL_MAX_DK 384
#define GMMC_SMALL_FULL_MOMENTS(d) (1 + (d) + (d) * ((d) + 1) / 2)
#define GMMC_SMALL_FULL_ACC(d, k) ((int64_t)(k) * GMMC_SMALL_FULL_MOMENTS(d) * GMMC_LANES)

static inline int gmmc_small_full_pass_pays(int d, int k)
{
    return k <= GMMC_NARROW_K && d <= GMMC_FUSED_FULL_MAX_D
        && d * k <= GMMC_FUSED_FULL_MAX_DK;
}

#define GMMC_SMALL_FULL_CASE(NAME, D)                                          \
    case D: return NAME##_rows(x, n, D, k, means, prec, offset, weight, shift, \
                               resp_sum, sum_x, sum_xx, lane_acc);
#define GMMC_DEFINE_SMALL_FULL_PASS(NAME, T, SUFFIX)                           \
static GMMC_ALWAYS_INLINE double NAME##_rows(                                  \
    const T *GMMC_RESTRICT x, int64_t n, int d, int k,                         \
    const T *GMMC_RESTRICT means, const T *GMMC_RESTRICT prec,                 \
    const double *GMMC_RESTRICT offset, const T *GMMC_RESTRICT weight,         \
    const double *GMMC_RESTRICT shift, double *GMMC_RESTRICT resp_sum,         \
    double *GMMC_RESTRICT sum_x, double *GMMC_RESTRICT sum_xx,                 \
    double (*GMMC_RESTRICT acc)[GMMC_LANES])                                   \
{                                                                              \
    T xt[GMMC_FUSED_FULL_MAX_D][GMMC_BLOCK], cols[GMMC_NARROW_K * GMMC_BLOCK]; \
    T ye[GMMC_BLOCK], q[GMMC_BLOCK], ze[GMMC_FUSED_FULL_MAX_D][GMMC_BLOCK];    \
    double y[GMMC_BLOCK], z[GMMC_FUSED_FULL_MAX_D][GMMC_BLOCK];                \
    double wts[GMMC_BLOCK], lns[GMMC_BLOCK];                                   \
    double lanes[GMMC_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                       \
    int n_mom = GMMC_SMALL_FULL_MOMENTS(d);                                    \
    for (int64_t first = 0; first < n; first += GMMC_BLOCK) {                  \
        int rows = n - first < GMMC_BLOCK ? (int)(n - first) : GMMC_BLOCK;     \
        gmmc_load_block_##SUFFIX(x + first * d, rows, d,                       \
                                  weight ? weight + first : NULL, xt, wts);    \
        for (int j = 0; j < k; j++) {                                          \
            const T *u = prec + j * d * d;                                     \
            for (int a = 0; a < d; a++) {                                      \
                T mu = means[j * d + a];                                       \
                for (int i = 0; i < GMMC_BLOCK; i++)                           \
                    ze[a][i] = xt[a][i] - mu;                                  \
            }                                                                  \
            /* (no zeroing loops: GCC makes them memset calls) */              \
            for (int b = 0; b < d; b++) {                                      \
                T c0 = u[b];                                                   \
                for (int i = 0; i < GMMC_BLOCK; i++)                           \
                    ye[i] = ze[0][i] * c0;                                     \
                for (int a = 1; a <= b; a++) {                                 \
                    T c = u[a * d + b];                                        \
                    for (int i = 0; i < GMMC_BLOCK; i++)                       \
                        ye[i] += ze[a][i] * c;                                 \
                }                                                              \
                for (int i = 0; i < GMMC_BLOCK; i++)                           \
                    q[i] = b ? q[i] + ye[i] * ye[i] : ye[i] * ye[i];           \
            }                                                                  \
            T *col = cols + j * GMMC_BLOCK, off = (T)offset[j];                \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                col[i] = off - (T)0.5 * q[i];                                  \
        }                                                                      \
        gmmc_normalize_cols_##SUFFIX(cols, k, rows, wts, lns, lanes);          \
        for (int j = 0; j < k; j++) {                                          \
            double r[GMMC_BLOCK];                                              \
            const T *col = cols + j * GMMC_BLOCK;                              \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                r[i] = col[i];                                                 \
            for (int a = 0; a < d; a++) {                                      \
                double s = shift[j * d + a];                                   \
                for (int i = 0; i < GMMC_BLOCK; i++)                           \
                    z[a][i] = (double)xt[a][i] - s;                            \
            }                                                                  \
            /* One sum at a time, each down the block in GMMC_LANES lanes:     \
             * [r, r z_a (a < d), r z_a z_b (a <= b)]. */                      \
            double (*accj)[GMMC_LANES] = acc + j * n_mom;                      \
            int m = 1 + d;                                                     \
            gmmc_add_lanes(accj[0], r);                                        \
            for (int a = 0; a < d; a++) {                                      \
                for (int i = 0; i < GMMC_BLOCK; i++)                           \
                    y[i] = r[i] * z[a][i];                                     \
                gmmc_add_lanes(accj[1 + a], y);                                \
                for (int b = a; b < d; b++)                                    \
                    gmmc_add_product_lanes(accj[m++], y, z[b]);                \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int j = 0; j < k; j++) {                                              \
        double sums[GMMC_SMALL_FULL_MOMENTS(GMMC_FUSED_FULL_MAX_D)];           \
        for (int m = 0; m < n_mom; m++)                                        \
            sums[m] = gmmc_lanes_total(acc[j * n_mom + m]);                    \
        resp_sum[j] += sums[0];                                                \
        int m = 1 + d;                                                         \
        for (int a = 0; a < d; a++) {                                          \
            sum_x[j * d + a] += sums[1 + a];                                   \
            for (int b = a; b < d; b++)                                        \
                sum_xx[(j * d + a) * d + b] += sums[m++];                      \
        }                                                                      \
    }                                                                          \
    return gmmc_lanes_total(lanes);                                            \
}                                                                              \
GMMC_CLONES static double NAME(const T *x, int64_t n, int d, int k,            \
                               const T *means, const T *prec,                  \
                               const double *offset, const T *weight,          \
                               const double *shift, double *resp_sum,          \
                               double *sum_x, double *sum_xx, double *acc)     \
{                                                                              \
    double (*lane_acc)[GMMC_LANES] = (double (*)[GMMC_LANES])acc;              \
    switch (d) {  /* a constant d unrolls the short loops over features */     \
    GMMC_SMALL_FULL_CASE(NAME, 1) GMMC_SMALL_FULL_CASE(NAME, 2)                \
    GMMC_SMALL_FULL_CASE(NAME, 3) GMMC_SMALL_FULL_CASE(NAME, 4)                \
    GMMC_SMALL_FULL_CASE(NAME, 5) GMMC_SMALL_FULL_CASE(NAME, 6)                \
    GMMC_SMALL_FULL_CASE(NAME, 7) GMMC_SMALL_FULL_CASE(NAME, 8)                \
    GMMC_SMALL_FULL_CASE(NAME, 16) GMMC_SMALL_FULL_CASE(NAME, 32)              \
    default: return NAME##_rows(x, n, d, k, means, prec, offset, weight, shift, \
                                resp_sum, sum_x, sum_xx, lane_acc);            \
    }                                                                          \
}

/* The same fused pass for diag and spherical covariances: each component's
 * log-density is offset_j - 0.5 sum_a (p_ja (x_a - mu_ja))^2 down the block's
 * columns, with p_ja = prec[j * d + a] (diag) or prec[j] (spherical); the
 * moments are r, r z_a and r z_a^2 about the one centre `shift` (D,). Adds to
 * resp_sum (K,), sum_x (K, D) and sum_xx: (K, D) diag, (K,) spherical (the
 * sum over a).
 *
 * Its work grows with D * K, the feature GEMMs' too but with more output
 * columns they run faster, so the bound is on D * K and K
 * (gmmc_small_diag_pass_pays). One pass of 100 000 rows, one thread, float64
 * / float32, fused against the GEMMs: diag D = 2, K = 5 0.65 / 0.44 against
 * 1.22 / 1.02 ms; D = 16, K = 8 2.76 / 1.99 against 3.23 / 2.28; D = 32, K = 5
 * 4.14 / 3.10 against 5.84 / 3.53; past the bound, D = 32, K = 8 5.47 / 4.07
 * against 5.35 / 3.40 and D = 16, K = 16 4.83 / 3.42 against 5.28 / 2.61.
 * Spherical's GEMMs have fewer features (D + 2): D = 16, K = 8 2.73 / 1.99
 * against 2.39 / 2.36, so it keeps D * K <= 80. */
#define GMMC_FUSED_DIAG_MAX_D 32
#define GMMC_FUSED_DIAG_MAX_DK 160
#define GMMC_FUSED_DIAG_MOMENTS (GMMC_NARROW_K + 2 * GMMC_FUSED_DIAG_MAX_DK)

static inline int gmmc_small_diag_pass_pays(int d, int k, int spherical)
{
    if (k > GMMC_NARROW_K || d > GMMC_FUSED_DIAG_MAX_D)
        return 0;
    return d * k <= (spherical || k > 8 ? 80 : GMMC_FUSED_DIAG_MAX_DK);
}

#define GMMC_DEFINE_SMALL_DIAG_PASS(NAME, T, SUFFIX)                           \
static GMMC_ALWAYS_INLINE double NAME##_rows(                                  \
    const T *GMMC_RESTRICT x, int64_t n, int d, int k, int spherical,          \
    const T *GMMC_RESTRICT means, const T *GMMC_RESTRICT prec,                 \
    const double *GMMC_RESTRICT offset, const T *GMMC_RESTRICT weight,         \
    const double *GMMC_RESTRICT shift, double *GMMC_RESTRICT resp_sum,         \
    double *GMMC_RESTRICT sum_x, double *GMMC_RESTRICT sum_xx)                 \
{                                                                              \
    T xt[GMMC_FUSED_DIAG_MAX_D][GMMC_BLOCK], cols[GMMC_NARROW_K * GMMC_BLOCK]; \
    T q[GMMC_BLOCK];                                                           \
    double z[GMMC_FUSED_DIAG_MAX_D][GMMC_BLOCK], r[GMMC_BLOCK], y[GMMC_BLOCK]; \
    double wts[GMMC_BLOCK], lns[GMMC_BLOCK];                                   \
    /* moment m of component j in acc[j * (1 + 2 d) + m]: K (1 + 2 D) sums */ \
    double acc[GMMC_FUSED_DIAG_MOMENTS][GMMC_LANES];                           \
    int n_mom = 1 + 2 * d;                                                     \
    double lanes[GMMC_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                       \
    memset(acc, 0, sizeof acc);                                                \
    for (int64_t first = 0; first < n; first += GMMC_BLOCK) {                  \
        int rows = n - first < GMMC_BLOCK ? (int)(n - first) : GMMC_BLOCK;     \
        gmmc_load_block_##SUFFIX(x + first * d, rows, d,                       \
                                  weight ? weight + first : NULL, xt, wts);    \
        for (int j = 0; j < k; j++) {                                          \
            for (int a = 0; a < d; a++) {                                      \
                T mu = means[j * d + a], p = spherical ? prec[j] : prec[j * d + a]; \
                for (int i = 0; i < GMMC_BLOCK; i++) {                         \
                    T t = (xt[a][i] - mu) * p;                                 \
                    q[i] = a ? q[i] + t * t : t * t;                           \
                }                                                              \
            }                                                                  \
            T *col = cols + j * GMMC_BLOCK, off = (T)offset[j];                \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                col[i] = off - (T)0.5 * q[i];                                  \
        }                                                                      \
        gmmc_normalize_cols_##SUFFIX(cols, k, rows, wts, lns, lanes);          \
        for (int a = 0; a < d; a++) {                                          \
            double s = shift[a];                                               \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                z[a][i] = (double)xt[a][i] - s;                                \
        }                                                                      \
        for (int j = 0; j < k; j++) {                                          \
            const T *col = cols + j * GMMC_BLOCK;                              \
            double (*accj)[GMMC_LANES] = acc + j * n_mom;                      \
            for (int i = 0; i < GMMC_BLOCK; i++)                               \
                r[i] = col[i];                                                 \
            gmmc_add_lanes(accj[0], r);                                        \
            for (int a = 0; a < d; a++) {                                      \
                for (int i = 0; i < GMMC_BLOCK; i++)                           \
                    y[i] = r[i] * z[a][i];                                     \
                gmmc_add_lanes(accj[1 + a], y);                                \
                gmmc_add_product_lanes(accj[1 + d + a], y, z[a]);              \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    for (int j = 0; j < k; j++) {                                              \
        double sums[1 + 2 * GMMC_FUSED_DIAG_MAX_D];                            \
        for (int m = 0; m < n_mom; m++)                                        \
            sums[m] = gmmc_lanes_total(acc[j * n_mom + m]);                    \
        resp_sum[j] += sums[0];                                                \
        for (int a = 0; a < d; a++) {                                          \
            sum_x[j * d + a] += sums[1 + a];                                   \
            if (spherical)                                                     \
                sum_xx[j] += sums[1 + d + a];                                  \
            else                                                               \
                sum_xx[j * d + a] += sums[1 + d + a];                          \
        }                                                                      \
    }                                                                          \
    return gmmc_lanes_total(lanes);                                            \
}                                                                              \
GMMC_CLONES static double NAME(const T *x, int64_t n, int d, int k,            \
                               int spherical, const T *means, const T *prec,   \
                               const double *offset, const T *weight,          \
                               const double *shift, double *resp_sum,          \
                               double *sum_x, double *sum_xx)                  \
{                                                                              \
    switch (d) {                                                               \
    case 1: return NAME##_rows(x, n, 1, k, spherical, means, prec, offset,     \
                               weight, shift, resp_sum, sum_x, sum_xx);        \
    case 2: return NAME##_rows(x, n, 2, k, spherical, means, prec, offset,     \
                               weight, shift, resp_sum, sum_x, sum_xx);        \
    case 3: return NAME##_rows(x, n, 3, k, spherical, means, prec, offset,     \
                               weight, shift, resp_sum, sum_x, sum_xx);        \
    case 4: return NAME##_rows(x, n, 4, k, spherical, means, prec, offset,     \
                               weight, shift, resp_sum, sum_x, sum_xx);        \
    case 8: return NAME##_rows(x, n, 8, k, spherical, means, prec, offset,     \
                               weight, shift, resp_sum, sum_x, sum_xx);        \
    case 16: return NAME##_rows(x, n, 16, k, spherical, means, prec, offset,   \
                                weight, shift, resp_sum, sum_x, sum_xx);       \
    case 32: return NAME##_rows(x, n, 32, k, spherical, means, prec, offset,   \
                                weight, shift, resp_sum, sum_x, sum_xx);       \
    default: return NAME##_rows(x, n, d, k, spherical, means, prec, offset,    \
                                weight, shift, resp_sum, sum_x, sum_xx);       \
    }                                                                          \
}

/* centred (n, d) := x - offset, rounded to T, and sq[i] := ||centred_i||^2
 * (each square in T, summed in double), the sum in 8 lanes so that it
 * vectorises (a running sum over a row is a chain of dependent adds: at
 * D = 32 it cost k-means' distance passes more than their GEMM). */
#define GMMC_DEFINE_CENTER_SQ_NORMS(NAME, T)                                   \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT x, int n, int d,           \
                             const double *GMMC_RESTRICT offset,               \
                             T *GMMC_RESTRICT centred, double *GMMC_RESTRICT sq) \
{                                                                              \
    for (int i = 0; i < n; i++) {                                              \
        const T *row = x + (int64_t)i * d;                                     \
        T *out = centred + (int64_t)i * d;                                     \
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0.0;                   \
        const T *p = out;                                                      \
        for (int b = 0; b < d; b++)                                            \
            out[b] = (T)(row[b] - offset[b]);                                  \
        /* pointers, not int indices: -fwrapv keeps those loops scalar */      \
        for (; p + 8 <= out + d; p += 8)                                       \
            for (int l = 0; l < 8; l++)                                        \
                lanes[l] += (double)(T)(p[l] * p[l]);                          \
        for (; p < out + d; p++)                                               \
            s += (double)(T)(*p * *p);                                         \
        for (int l = 0; l < 8; l++)                                            \
            s += lanes[l];                                                     \
        sq[i] = s;                                                             \
    }                                                                          \
}

/* k-means++ seeding, the portable versions.
 *
 * Distances: out[j * ld + i] := ||(x_i - offset) - c_j||^2 for t centred
 * centres c_j, each a sum of squared differences. k-means++ scores a few
 * candidates per pass over X (2 + log K): too few columns for a GEMM to pay,
 * while this is one read of each row, with no cancellation (so no clamp at
 * 0). The row is centred in T (into ``centred``, d values), each square
 * rounded to T and summed in double: feature b in lane b % 8, the lanes added
 * pairwise at the end, the order of the AVX-512 version
 * (gmmc_seed_distances_* in _microkernels.h). */
#define GMMC_DEFINE_DIRECT_DISTANCES(NAME, T)                                  \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT x, int n, int d,           \
                             const double *GMMC_RESTRICT offset,               \
                             const T *GMMC_RESTRICT centers, int t,            \
                             T *GMMC_RESTRICT centred, T *GMMC_RESTRICT out,   \
                             int64_t ld)                                       \
{                                                                              \
    for (int64_t i = 0; i < n; i++) {                                          \
        const T *row = x + i * d;                                              \
        for (int64_t b = 0; b < d; b++)                                        \
            centred[b] = (T)(row[b] - offset[b]);                              \
        for (int64_t j = 0; j < t; j++) {                                      \
            const T *c = centers + j * d;                                      \
            double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};                        \
            const T *p = centred, *q = c;                                      \
            for (; p + 8 <= centred + d; p += 8, q += 8)                       \
                for (int l = 0; l < 8; l++) {                                  \
                    T diff = p[l] - q[l];                                      \
                    lanes[l] += (double)(T)(diff * diff);                      \
                }                                                              \
            for (int l = 0; p + l < centred + d; l++) {                        \
                T diff = p[l] - q[l];                                          \
                lanes[l] += (double)(T)(diff * diff);                          \
            }                                                                  \
            out[j * ld + i] = (T)(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) \
                                  + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))); \
        }                                                                      \
    }                                                                          \
}

/* lanes[8 j + i % 8] += w_i min(dist[j * ld + i], closest_i) for the n rows
 * of a chunk (w_i = 1 without weights): the candidates' potentials in 8
 * lanes, so that the sum vectorises (the caller adds the lanes up). */
#define GMMC_DEFINE_SEED_POTENTIALS(NAME, T)                                   \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT dist, int64_t ld, int n,   \
                             int t, const T *GMMC_RESTRICT closest,            \
                             const T *GMMC_RESTRICT weight,                    \
                             double *GMMC_RESTRICT lanes)                      \
{                                                                              \
    for (int64_t j = 0; j < t; j++) {                                          \
        const T *dj = dist + j * ld;                                           \
        double *acc = lanes + 8 * j;                                           \
        for (int64_t i0 = 0; i0 < n; i0 += 8) {                                \
            const T *a = dj + i0, *c = closest + i0;                           \
            if (i0 + 8 <= n) {                                                 \
                if (weight == NULL)                                            \
                    for (int l = 0; l < 8; l++)                                \
                        acc[l] += (double)(a[l] < c[l] ? a[l] : c[l]);         \
                else                                                           \
                    for (int l = 0; l < 8; l++)                                \
                        acc[l] += (double)weight[i0 + l]                       \
                                  * (double)(a[l] < c[l] ? a[l] : c[l]);       \
            } else {                                                           \
                for (int l = 0; i0 + l < n; l++)                               \
                    acc[l] += (weight == NULL ? 1.0 : (double)weight[i0 + l])  \
                              * (double)(a[l] < c[l] ? a[l] : c[l]);           \
            }                                                                  \
        }                                                                      \
    }                                                                          \
}

/* spans[s] := the sum of the terms w_i v_i (w_i = 1 without weights) of
 * span s, values s GMMC_SEARCH_SPAN .. (s + 1) GMMC_SEARCH_SPAN - 1, added in
 * 8 lanes (not in order: these sums only say roughly where k-means++'s draws
 * fall, see _kmeans.pyx's _located_search). Returns their total, or NaN when
 * a term is negative or NaN. */
#define GMMC_SEARCH_SPAN 512
#if defined(GMMC_VECTOR_EXTENSIONS)
/* the whole groups of 8 in one vector (GCC leaves the loop below scalar) */
#define GMMC_SPAN_SUMS_BY_8(T)                                                 \
    {                                                                          \
        typedef double sum8 __attribute__((vector_size(64), aligned(8)));     \
        typedef int64_t mask8 __attribute__((vector_size(64)));               \
        typedef T row8 __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)))); \
        sum8 lanes = {0, 0, 0, 0, 0, 0, 0, 0};                                 \
        mask8 negative = {0, 0, 0, 0, 0, 0, 0, 0};                             \
        for (; i + 8 <= m; i += 8) {                                           \
            sum8 term = __builtin_convertvector(*(const row8 *)(v + i), sum8); \
            if (weight != NULL)                                                \
                term *= __builtin_convertvector(                               \
                    *(const row8 *)(weight + s0 + i), sum8);                   \
            negative |= ~(term >= 0.0); /* NaN too */                          \
            lanes += term;                                                     \
        }                                                                      \
        for (int l = 0; l < 8; l++) {                                          \
            acc[l] = lanes[l];                                                 \
            bad |= negative[l] != 0;                                           \
        }                                                                      \
    }
#else
#define GMMC_SPAN_SUMS_BY_8(T)
#endif
#define GMMC_DEFINE_SPAN_SUMS(NAME, T)                                         \
GMMC_CLONES static double NAME(const T *GMMC_RESTRICT values,                  \
                               const T *GMMC_RESTRICT weight, int64_t n,       \
                               double *GMMC_RESTRICT spans)                    \
{                                                                              \
    double total = 0.0;                                                        \
    int bad = 0;                                                               \
    for (int64_t s0 = 0; s0 < n; s0 += GMMC_SEARCH_SPAN) {                     \
        const int64_t m = n - s0 < GMMC_SEARCH_SPAN ? n - s0 : GMMC_SEARCH_SPAN; \
        const T *v = values + s0;                                              \
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                              \
        int64_t i = 0;                                                         \
        GMMC_SPAN_SUMS_BY_8(T)                                                 \
        for (; i + 8 <= m; i += 8)                                             \
            for (int l = 0; l < 8; l++) {                                      \
                const double term = (double)v[i + l]                           \
                    * (weight == NULL ? 1.0 : (double)weight[s0 + i + l]);     \
                bad |= !(term >= 0.0);                                         \
                acc[l] += term;                                                \
            }                                                                  \
        for (; i < m; i++) {                                                   \
            const double term = (double)v[i]                                   \
                * (weight == NULL ? 1.0 : (double)weight[s0 + i]);             \
            bad |= !(term >= 0.0);                                             \
            acc[0] += term;                                                    \
        }                                                                      \
        const double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3]))             \
                           + ((acc[4] + acc[5]) + (acc[6] + acc[7]));          \
        spans[s0 / GMMC_SEARCH_SPAN] = sum;                                    \
        total += sum;                                                          \
    }                                                                          \
    return bad ? NAN : total;                                                  \
}

/* closest_i := min(closest_i, values_i) */
#define GMMC_DEFINE_MIN_INTO(NAME, T)                                          \
GMMC_CLONES static void NAME(T *GMMC_RESTRICT closest,                         \
                             const T *GMMC_RESTRICT values, int64_t n)         \
{                                                                              \
    for (int64_t i = 0; i < n; i++)                                            \
        closest[i] = values[i] < closest[i] ? values[i] : closest[i];          \
}

/* closest_i := values_i and labels_i := label where values_i < closest_i:
 * k-means++'s update where its pruning needs to know each row's centre. */
#define GMMC_DEFINE_MIN_INTO_LABELLED(NAME, T)                                 \
GMMC_CLONES static void NAME(T *GMMC_RESTRICT closest, int32_t *GMMC_RESTRICT labels, \
                             const T *GMMC_RESTRICT values, int64_t n,         \
                             int32_t label)                                    \
{                                                                              \
    for (int64_t i = 0; i < n; i++) {                                          \
        const int nearer = values[i] < closest[i];                             \
        closest[i] = nearer ? values[i] : closest[i];                          \
        labels[i] = nearer ? label : labels[i];                                \
    }                                                                          \
}

/* Lloyd's assignment for the n rows of a chunk, from g (k, ld) = -2 C x'^T
 * (the chunk's GEMM, one row per centre, so that the search for each row's
 * closest centre runs across rows, 64 at a time): the distance to centre j is
 * (T) max((g_ji + x_sq_i) + c_sq_j, 0) and label_i the first closest. Then
 * sums[label_i] += w_i x'_i (x' the centred rows, n x d), counts[label_i] +=
 * w_i, *inertia += w_i dist_i and *n_changed counts the labels that moved.
 * I: an integer as wide as T, so that the search vectorises. */
#define GMMC_DEFINE_LLOYD_ASSIGN(NAME, T, I)                                   \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT g, int64_t ld, int n,      \
                             int k, const double *GMMC_RESTRICT x_sq,          \
                             const double *GMMC_RESTRICT c_sq,                 \
                             const T *GMMC_RESTRICT centred, int d,            \
                             const T *GMMC_RESTRICT weight,                    \
                             int *GMMC_RESTRICT labels,                        \
                             double *GMMC_RESTRICT sums,                       \
                             double *GMMC_RESTRICT counts,                     \
                             double *GMMC_RESTRICT inertia,                    \
                             int64_t *GMMC_RESTRICT n_changed)                 \
{                                                                              \
    T best_dist[64];                                                           \
    I best[64];                                                                \
    for (int64_t i0 = 0; i0 < n; i0 += 64) {                                   \
        const int64_t m = n - i0 < 64 ? n - i0 : 64;                           \
        const double *xs = x_sq + i0;                                          \
        for (int64_t i = 0; i < m; i++) {                                      \
            double v = ((double)g[i0 + i] + xs[i]) + c_sq[0];                  \
            best_dist[i] = (T)(v > 0.0 ? v : 0.0);                             \
            best[i] = 0;                                                       \
        }                                                                      \
        for (int64_t j = 1; j < k; j++) {                                      \
            const T *gj = g + j * ld + i0;                                     \
            const double cj = c_sq[j];                                         \
            for (int64_t i = 0; i < m; i++) {                                  \
                double v = ((double)gj[i] + xs[i]) + cj;                       \
                T dist = (T)(v > 0.0 ? v : 0.0);                               \
                best[i] = dist < best_dist[i] ? (I)j : best[i];                \
                best_dist[i] = dist < best_dist[i] ? dist : best_dist[i];      \
            }                                                                  \
        }                                                                      \
        for (int64_t i = 0; i < m; i++) {                                      \
            const int label = (int)best[i];                                    \
            const double w = weight == NULL ? 1.0 : (double)weight[i0 + i];    \
            const T *row = centred + (i0 + i) * d;                             \
            double *sum = sums + (int64_t)label * d;                           \
            *n_changed += labels[i0 + i] != label;                             \
            labels[i0 + i] = label;                                            \
            *inertia += w * (double)best_dist[i];                              \
            counts[label] += w;                                                \
            for (int a = 0; a < d; a++)                                        \
                sum[a] += w * (double)row[a];                                  \
        }                                                                      \
    }                                                                          \
}

/* out[a] += sum_i w_i y_ia for the n rows of x (n, d), y = x - center (or x
 * when center is NULL), squared when ``square``; w_i = 1 without weights.
 * Each row is one vector pass over out, so the loop over features vectorises
 * (the data's weighted moments; the responsibilities' sums per component). */
#if defined(GMMC_VECTOR_EXTENSIONS)
/* The squares about a center, 8 columns a vector: kept in a register over a
 * chunk of rows, out's columns do not wait on a store and a reload per row
 * (which made this pass 3x slower than the plain sums). Each column's terms
 * are added in row order, as below. Sets ``first``: the columns left. */
#define GMMC_COLUMN_SQUARES_BY_8(T)                                            \
    typedef double sum8 __attribute__((vector_size(64), aligned(8)));         \
    typedef T row8 __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)))); \
    const int whole = d / 8 * 8;                                               \
    for (int64_t i0 = 0; i0 < n; i0 += 128) {                                  \
        const int64_t i1 = n - i0 < 128 ? n : i0 + 128;                        \
        for (int a0 = 0; a0 < whole; a0 += 8) {                                \
            sum8 acc = *(const sum8 *)(out + a0);                              \
            const sum8 c = *(const sum8 *)(center + a0);                       \
            for (int64_t i = i0; i < i1; i++) {                                \
                const double w = weight == NULL ? 1.0 : (double)weight[i];     \
                const sum8 y = __builtin_convertvector(                        \
                    *(const row8 *)(x + i * d + a0), sum8) - c;                \
                acc += w * (y * y);                                            \
            }                                                                  \
            *(sum8 *)(out + a0) = acc;                                         \
        }                                                                      \
    }                                                                          \
    first = whole;
#else
#define GMMC_COLUMN_SQUARES_BY_8(T)
#endif

#define GMMC_DEFINE_COLUMN_SUMS(NAME, T)                                       \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT x, int64_t n, int d,       \
                             const T *GMMC_RESTRICT weight,                    \
                             const double *GMMC_RESTRICT center, int square,   \
                             double *GMMC_RESTRICT out)                        \
{                                                                              \
    int first = 0;                                                             \
    if (center != NULL && square) {                                            \
        GMMC_COLUMN_SQUARES_BY_8(T)                                            \
    }                                                                          \
    if (first == d)                                                            \
        return;                                                                \
    for (int64_t i = 0; i < n; i++) {                                          \
        const T *row = x + i * d;                                              \
        const double w = weight == NULL ? 1.0 : (double)weight[i];             \
        double *o = out;                                                       \
        if (center == NULL && !square)                                         \
            for (const T *p = row; p < row + d; p++, o++)                      \
                *o += w * (double)*p;                                          \
        else if (center == NULL)                                               \
            for (const T *p = row; p < row + d; p++, o++)                      \
                *o += w * ((double)*p * (double)*p);                           \
        else if (!square)                                                      \
            for (const T *p = row; p < row + d; p++, o++)                      \
                *o += w * ((double)*p - center[p - row]);                      \
        else                                                                   \
            for (int a = first; a < d; a++) {                                  \
                double y = (double)row[a] - center[a];                         \
                out[a] += w * (y * y);                                         \
            }                                                                  \
    }                                                                          \
}

/* sums[a] += sum_i w_i x_ia and squares[a] += sum_i w_i (x_ia - shift_a)^2
 * in one pass over memory: the data's mean, and its variance by the shifted
 * formula (gmmc._stats.weighted_mean_variance). Both are gmmc_column_sums_*
 * (so the sums are its bits), on chunks of rows small enough that the second
 * reads them from cache. */
#define GMMC_DEFINE_COLUMN_MOMENTS(NAME, T, SUMS)                              \
static void NAME(const T *x, int64_t n, int d, const T *weight,                \
                 const double *shift, double *sums, double *squares)           \
{                                                                              \
    const int64_t bytes = (int64_t)d * (int64_t)sizeof(T);                     \
    const int64_t rows = bytes >= 2048 ? 8 : 16384 / bytes;                    \
    for (int64_t i0 = 0; i0 < n; i0 += rows) {                                 \
        const int64_t m = n - i0 < rows ? n - i0 : rows;                       \
        const T *w = weight == NULL ? NULL : weight + i0;                      \
        SUMS(x + i0 * d, m, d, w, NULL, 0, sums);                              \
        SUMS(x + i0 * d, m, d, w, shift, 1, squares);                          \
    }                                                                          \
}

/* range[0], range[1] := the least and the greatest of the n values of x that
 * are not NaN (+inf and -inf when there are none); returns whether any value
 * is NaN or infinite (their products with 0 are NaN). One pass for input
 * validation, in 64 lanes: a loop over whole arrays, which vectorises where
 * an 8-way reduction would not. */
#define GMMC_DEFINE_VALUE_RANGE(NAME, T)                                       \
GMMC_CLONES static int NAME(const T *GMMC_RESTRICT x, int64_t n,               \
                            double *GMMC_RESTRICT range)                       \
{                                                                              \
    T lo[64], hi[64], probe[64];                                               \
    const T *p = x;                                                            \
    int nonfinite = 0;                                                         \
    for (int l = 0; l < 64; l++) {                                             \
        lo[l] = (T)INFINITY;                                                   \
        hi[l] = (T)-INFINITY;                                                  \
        probe[l] = 0;                                                          \
    }                                                                          \
    for (; p + 64 <= x + n; p += 64)                                           \
        for (int l = 0; l < 64; l++) { /* a NaN fails both comparisons */      \
            lo[l] = p[l] < lo[l] ? p[l] : lo[l];                               \
            hi[l] = p[l] > hi[l] ? p[l] : hi[l];                               \
            probe[l] += p[l] * (T)0;                                           \
        }                                                                      \
    for (int l = 0; p + l < x + n; l++) {                                      \
        lo[l] = p[l] < lo[l] ? p[l] : lo[l];                                   \
        hi[l] = p[l] > hi[l] ? p[l] : hi[l];                                   \
        probe[l] += p[l] * (T)0;                                               \
    }                                                                          \
    range[0] = INFINITY;                                                       \
    range[1] = -INFINITY;                                                      \
    for (int l = 0; l < 64; l++) {                                             \
        range[0] = lo[l] < range[0] ? lo[l] : range[0];                        \
        range[1] = hi[l] > range[1] ? hi[l] : range[1];                        \
        nonfinite |= probe[l] != probe[l];                                     \
    }                                                                          \
    return nonfinite;                                                          \
}

/* Hard assignments' sums about their reference points, for the n rows of x:
 * with j = labels[i] and y_i = x_i - shift_j, resp_sum[j] += w_i and sum_x[j]
 * += w_i y_i; then ``squares`` 1 (diag):
 * sum_xx[j] (d values) += w_i y_i^2, 2 (spherical): sum_xx[j] += w_i ||y_i||^2
 * (in 8 lanes), 0: nothing. Each row is a few vector passes over D values,
 * where one-hot responsibilities would cost K times as many. */
#define GMMC_DEFINE_LABEL_MOMENTS(NAME, T)                                     \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT x, int64_t n, int d,       \
                             const T *GMMC_RESTRICT weight,                    \
                             const int *GMMC_RESTRICT labels,                  \
                             const double *GMMC_RESTRICT shift, int squares,   \
                             double *GMMC_RESTRICT resp_sum,                   \
                             double *GMMC_RESTRICT sum_x,                      \
                             double *GMMC_RESTRICT sum_xx)                     \
{                                                                              \
    for (int64_t i = 0; i < n; i++) {                                          \
        const T *row = x + i * d, *end = row + d, *p;                          \
        const int64_t j = labels[i];                                           \
        const double w = weight == NULL ? 1.0 : (double)weight[i];             \
        const double *s = shift + j * d;                                       \
        double *sx = sum_x + j * d;                                            \
        resp_sum[j] += w;                                                      \
        for (p = row; p < end; p++, s++, sx++)                                 \
            *sx += w * ((double)*p - *s);                                      \
        s = shift + j * d;                                                     \
        if (squares == 1) {                                                    \
            double *sq = sum_xx + j * d;                                       \
            for (p = row; p < end; p++, s++, sq++) {                           \
                double y = (double)*p - *s;                                    \
                *sq += w * (y * y);                                            \
            }                                                                  \
        } else if (squares == 2) {                                             \
            double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, total = 0.0;           \
            for (p = row; p + 8 <= end; p += 8, s += 8)                        \
                for (int l = 0; l < 8; l++) {                                  \
                    double y = (double)p[l] - s[l];                            \
                    lanes[l] += y * y;                                         \
                }                                                              \
            for (; p < end; p++, s++) {                                        \
                double y = (double)*p - *s;                                    \
                total += y * y;                                                \
            }                                                                  \
            for (int l = 0; l < 8; l++)                                        \
                total += lanes[l];                                             \
            sum_xx[j] += w * total;                                            \
        }                                                                      \
    }                                                                          \
}

/* Tied covariances' log-densities after the one product y = (x - c) U with
 * the shared factor: lp[i][j] := offset_j - 0.5 sum_a (y_ia - aux_aj)^2, aux
 * (d, k) the means' products, summed in double. Components innermost (64 at
 * a time, in a local array), through pointers, so that the loop over them
 * vectorises without reassociating a sum (compiled by Cython, the int-indexed
 * loop stayed scalar: half of a tied iteration). */
#define GMMC_DEFINE_TIED_LOG_PROB(NAME, T)                                     \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT y, int n, int d,           \
                             const T *GMMC_RESTRICT aux, int k,                \
                             const double *GMMC_RESTRICT offset,               \
                             T *GMMC_RESTRICT lp)                              \
{                                                                              \
    double acc[64];                                                            \
    for (int64_t i = 0; i < n; i++) {                                          \
        const T *row = y + i * d;                                              \
        for (int64_t j0 = 0; j0 < k; j0 += 64) {                               \
            const int64_t width = k - j0 < 64 ? k - j0 : 64;                   \
            double *end = acc + width, *o;                                     \
            for (o = acc; o < end; o++)                                        \
                *o = 0.0;                                                      \
            for (int64_t a = 0; a < d; a++) {                                  \
                const double v = (double)row[a];                               \
                const T *m = aux + a * k + j0;                                 \
                for (o = acc; o < end; o++, m++) {                             \
                    double t = v - (double)*m;                                 \
                    *o += t * t;                                               \
                }                                                              \
            }                                                                  \
            T *out = lp + i * k + j0;                                          \
            const double *c = offset + j0;                                     \
            for (o = acc; o < end; o++, out++, c++)                            \
                *out = (T)(*c - 0.5 * *o);                                     \
        }                                                                      \
    }                                                                          \
}

/* out (n, d) := x - shift, shift in double, rounded to T; then, with weights,
 * each row times sqrt(w_i) (the tied scatter's rows). Pointers, so that the
 * loops vectorise (Cython's int-indexed ones stayed scalar). */
#define GMMC_DEFINE_CENTER_SCALE(NAME, T)                                      \
GMMC_CLONES static void NAME(const T *GMMC_RESTRICT x, int64_t n, int d,       \
                             const double *GMMC_RESTRICT shift,                \
                             T *GMMC_RESTRICT out)                             \
{                                                                              \
    for (int64_t i = 0; i < n; i++) {                                          \
        const T *row = x + i * d;                                              \
        T *o = out + i * d;                                                    \
        for (const double *s = shift; s < shift + d; s++, row++, o++)          \
            *o = (T)((double)*row - *s);                                       \
    }                                                                          \
}
#define GMMC_DEFINE_SCALE_ROWS(NAME, T)                                        \
GMMC_CLONES static void NAME(T *GMMC_RESTRICT rows, int64_t n, int d,          \
                             const T *GMMC_RESTRICT weight)                    \
{                                                                              \
    for (int64_t i = 0; i < n; i++) {                                          \
        const double root = sqrt((double)weight[i]);                           \
        for (T *o = rows + i * d; o < rows + (i + 1) * d; o++)                 \
            *o = (T)(*o * root);                                               \
    }                                                                          \
}

GMMC_DEFINE_CENTER(gmmc_center_rows_d, double)
GMMC_DEFINE_CENTER(gmmc_center_rows_f, float)
GMMC_DEFINE_HALF_SQ_NORMS(gmmc_half_sq_norms_d, double)
GMMC_DEFINE_HALF_SQ_NORMS(gmmc_half_sq_norms_f, float)
GMMC_DEFINE_WEIGHTED_CENTER(gmmc_weighted_center_d, double)
GMMC_DEFINE_WEIGHTED_CENTER(gmmc_weighted_center_f, float)
GMMC_DEFINE_FEATURES(gmmc_quadratic_features_d, double, double)
GMMC_DEFINE_FEATURES(gmmc_quadratic_features_f, float, float)
GMMC_DEFINE_FEATURES(gmmc_quadratic_features_fd, float, double)
GMMC_DEFINE_ADD(gmmc_add_d, double)
GMMC_DEFINE_ADD(gmmc_add_f, float)
GMMC_DEFINE_SMALL_QUADRATIC_FORMS(gmmc_small_quadratic_forms_d, double)
GMMC_DEFINE_SMALL_QUADRATIC_FORMS(gmmc_small_quadratic_forms_f, float)
GMMC_DEFINE_SMALL_GRAM(gmmc_small_gram_d, double)
GMMC_DEFINE_SMALL_GRAM(gmmc_small_gram_f, float)
GMMC_DEFINE_SMALL_FULL_PASS(gmmc_small_full_pass_d, double, d)
GMMC_DEFINE_SMALL_FULL_PASS(gmmc_small_full_pass_f, float, f)
GMMC_DEFINE_SMALL_DIAG_PASS(gmmc_small_diag_pass_d, double, d)
GMMC_DEFINE_SMALL_DIAG_PASS(gmmc_small_diag_pass_f, float, f)
GMMC_DEFINE_CENTER_SQ_NORMS(gmmc_center_sq_norms_d, double)
GMMC_DEFINE_CENTER_SQ_NORMS(gmmc_center_sq_norms_f, float)
GMMC_DEFINE_DIRECT_DISTANCES(gmmc_direct_distances_d, double)
GMMC_DEFINE_DIRECT_DISTANCES(gmmc_direct_distances_f, float)
GMMC_DEFINE_SEED_POTENTIALS(gmmc_seed_potentials_d, double)
GMMC_DEFINE_SEED_POTENTIALS(gmmc_seed_potentials_f, float)
GMMC_DEFINE_SPAN_SUMS(gmmc_span_sums_d, double)
GMMC_DEFINE_SPAN_SUMS(gmmc_span_sums_f, float)
GMMC_DEFINE_MIN_INTO(gmmc_min_into_d, double)
GMMC_DEFINE_MIN_INTO(gmmc_min_into_f, float)
GMMC_DEFINE_MIN_INTO_LABELLED(gmmc_min_into_labelled_d, double)
GMMC_DEFINE_MIN_INTO_LABELLED(gmmc_min_into_labelled_f, float)
GMMC_DEFINE_LLOYD_ASSIGN(gmmc_lloyd_assign_d, double, int64_t)
GMMC_DEFINE_LLOYD_ASSIGN(gmmc_lloyd_assign_f, float, int32_t)
GMMC_DEFINE_COLUMN_SUMS(gmmc_column_sums_d, double)
GMMC_DEFINE_COLUMN_SUMS(gmmc_column_sums_f, float)
GMMC_DEFINE_COLUMN_MOMENTS(gmmc_column_moments_d, double, gmmc_column_sums_d)
GMMC_DEFINE_COLUMN_MOMENTS(gmmc_column_moments_f, float, gmmc_column_sums_f)
GMMC_DEFINE_VALUE_RANGE(gmmc_value_range_d, double)
GMMC_DEFINE_VALUE_RANGE(gmmc_value_range_f, float)
GMMC_DEFINE_LABEL_MOMENTS(gmmc_label_moments_d, double)
GMMC_DEFINE_LABEL_MOMENTS(gmmc_label_moments_f, float)
GMMC_DEFINE_TIED_LOG_PROB(gmmc_tied_log_prob_d, double)
GMMC_DEFINE_TIED_LOG_PROB(gmmc_tied_log_prob_f, float)
GMMC_DEFINE_CENTER_SCALE(gmmc_center_rows_by_d, double)
GMMC_DEFINE_CENTER_SCALE(gmmc_center_rows_by_f, float)
GMMC_DEFINE_SCALE_ROWS(gmmc_scale_rows_d, double)
GMMC_DEFINE_SCALE_ROWS(gmmc_scale_rows_f, float)

/* Precision factor of one float64 covariance matrix C (d x d, row-major, its
 * upper triangle read): U upper, zero below, with inv(C) = U U^T, the layout
 * of scikit-learn's precisions_cholesky_. C = R^T R (Cholesky, R upper), then
 * U = inv(R). Returns 1, or 0 where C has a value that is not finite or is not
 * positive definite (a pivot not > 0, NaN included), as LAPACK's potrf flags.
 *
 * Why not LAPACK: for orders up to GMMC_FACTOR_MAX_D OpenBLAS runs its
 * unblocked potf2 and trti2, one level-2 call per column; an M-step at D = 64
 * spent 27 us a component there (digits, 10 components, 20 M-steps: 8 % of
 * the fit). Here every update is a row, vectorised: R by panels of four rows,
 * factored among themselves and then taken off every row below at once; U =
 * inv(R) from the bottom row up (row i of U R = e_i), each panel of four rows
 * of U, once known, taken off every row above. The rows sit at a stride of
 * whole blocks of GMMC_FACTOR_BLOCK in ``work`` (gmmc_factor_work_size
 * doubles) and every loop runs over whole blocks from the one holding the
 * diagonal: the loops of a few elements are the cost at these orders, not
 * the flops. What R's updates leave left of the diagonal in that block only
 * ever feeds entries left of the diagonal, and U's are zero; only the
 * triangle is copied out. */
#define GMMC_FACTOR_MAX_D 128
#define GMMC_FACTOR_BLOCK 8
static inline int gmmc_factor_stride(int d)
{
    return (d + GMMC_FACTOR_BLOCK - 1) / GMMC_FACTOR_BLOCK * GMMC_FACTOR_BLOCK;
}
static inline int64_t gmmc_factor_work_size(int d)
{
    return (int64_t)2 * d * gmmc_factor_stride(d);
}

/* row[j] -= f * src[j] over the blocks from the one holding column ``from`` */
static GMMC_ALWAYS_INLINE void gmmc_factor_axpy(double *GMMC_RESTRICT row,
                                                const double *GMMC_RESTRICT src, double f,
                                                int from, int stride)
{
    const int first = from / GMMC_FACTOR_BLOCK * GMMC_FACTOR_BLOCK;
    row += first;
    src += first;
    for (const double *end = src + (stride - first); src < end; src++, row++)
        *row -= f * *src;
}

/* The same for GMMC_FACTOR_PANEL consecutive rows of src (stride apart) and
 * their factors f[]: one load and one store of ``row`` for four updates. */
#define GMMC_FACTOR_PANEL 4
static GMMC_ALWAYS_INLINE void gmmc_factor_axpy4(double *GMMC_RESTRICT row,
                                                 const double *GMMC_RESTRICT src,
                                                 const double *GMMC_RESTRICT f,
                                                 int from, int stride)
{
    const double f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3];
    const int first = from / GMMC_FACTOR_BLOCK * GMMC_FACTOR_BLOCK;
    const double *s0 = src + first, *s1 = s0 + stride, *s2 = s1 + stride, *s3 = s2 + stride;
    row += first;
    for (const double *end = s0 + (stride - first); s0 < end; s0++, s1++, s2++, s3++, row++)
        *row -= (f0 * *s0 + f1 * *s1) + (f2 * *s2 + f3 * *s3);
}

GMMC_CLONES static int gmmc_precision_factor(const double *GMMC_RESTRICT c, int d,
                                             double *GMMC_RESTRICT u,
                                             double *GMMC_RESTRICT work)
{
    const int s = gmmc_factor_stride(d);
    double range[2];
    if (gmmc_value_range_d(c, (int64_t)d * d, range))  /* all of C, as the LAPACK path checks */
        return 0;
    memset(work, 0, sizeof(double) * d * s);
    for (int a = 0; a < d; a++)
        memcpy(work + (int64_t)a * s + a, c + (int64_t)a * d + a, sizeof(double) * (d - a));
    /* R, in place of C's upper triangle, a panel of rows at a time: the
     * panel's rows factored among themselves, then taken off the rows below. */
    for (int k0 = 0; k0 < d; k0 += GMMC_FACTOR_PANEL) {
        const int k1 = k0 + GMMC_FACTOR_PANEL < d ? k0 + GMMC_FACTOR_PANEL : d;
        for (int k = k0; k < k1; k++) {
            double *rk = work + (int64_t)k * s;
            const double pivot = rk[k];
            if (!(pivot > 0.0))
                return 0;
            const double diag = sqrt(pivot), scale = 1.0 / diag;
            rk[k] = diag;
            for (double *r = rk + k + 1; r < rk + d; r++)
                *r *= scale;
            for (int i = k + 1; i < k1; i++)
                gmmc_factor_axpy(work + (int64_t)i * s, rk, rk[i], i, s);
        }
        /* (a panel of fewer than four rows is the last: no rows below it) */
        const double *panel = work + (int64_t)k0 * s;
        for (int i = k1; i < d; i++) {
            const double f[GMMC_FACTOR_PANEL] = {panel[i], panel[s + i], panel[2 * s + i],
                                                 panel[3 * s + i]};
            gmmc_factor_axpy4(work + (int64_t)i * s, panel, f, i, s);
        }
    }
    /* U = inv(R) from the bottom row up: row k of U R = e_k gives U[k] =
     * (e_k - sum_{i>k} R[k][i] U[i]) / R[k][k]. Each panel of U, once known,
     * is taken off every row above it at once (rows of ``rest``), so that no
     * row's sum waits on its own previous term. U[k] replaces R[k], then no
     * longer read. */
    double *rest = work + (int64_t)d * s;
    memset(rest, 0, sizeof(double) * d * s);
    for (int k = 0; k < d; k++)
        rest[(int64_t)k * s + k] = 1.0;
    for (int k1 = d; k1 > 0; k1 -= GMMC_FACTOR_PANEL) {
        const int k0 = k1 - GMMC_FACTOR_PANEL > 0 ? k1 - GMMC_FACTOR_PANEL : 0;
        for (int k = k1 - 1; k >= k0; k--) {
            double *rk = work + (int64_t)k * s;
            const double *tk = rest + (int64_t)k * s;
            const double scale = 1.0 / rk[k];
            const int first = k / GMMC_FACTOR_BLOCK * GMMC_FACTOR_BLOCK;
            const double *t = tk + first;
            for (double *r = rk + first; r < rk + s; r++, t++)
                *r = *t * scale;
            for (int i = k0; i < k; i++)
                gmmc_factor_axpy(rest + (int64_t)i * s, rk, work[(int64_t)i * s + k], k, s);
        }
        const double *panel = work + (int64_t)k0 * s;
        for (int i = 0; i < k0; i++) {
            const double *ri = work + (int64_t)i * s;
            gmmc_factor_axpy4(rest + (int64_t)i * s, panel, ri + k0, k0, s);
        }
    }
    for (int a = 0; a < d; a++) {
        memset(u + (int64_t)a * d, 0, sizeof(double) * a);
        memcpy(u + (int64_t)a * d + a, work + (int64_t)a * s + a, sizeof(double) * (d - a));
    }
    return 1;
}

#endif
