/* Row-wise log-sum-exp normalisation of a chunk of log-densities.
 *
 * This is the one place where gmmc spends time in exp(): N x K of them per EM
 * iteration. libm's exp is scalar, so here it is written as branch-free
 * arithmetic the compiler vectorises, and on x86-64 Linux with GCC the function
 * is compiled for AVX-512, AVX2 and baseline, picked at load time
 * (target_clones), since wheels must run on any x86-64 CPU.
 *
 * exp(t) for t <= 0: t = k ln2 + r with |r| <= ln2/2, exp(r) by its degree-12
 * Taylor polynomial (truncation error < 2e-16 relative), times 2^k assembled
 * in the exponent bits. Below t = -708 the result is flushed to 0: such a term
 * is under 1e-307 of the row's largest and cannot change the sum.
 */
#ifndef GMMC_LOGSUMEXP_H
#define GMMC_LOGSUMEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GMMC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GMMC_CLONES
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

/* For each of the n rows of lp (n, k): row := exp(row - max) / sum * weight[i]
 * (weight may be NULL) and log_norm[i] := log(sum exp(row)) (log_norm may be
 * NULL). Returns sum_i weight_i * log_norm_i. A row whose maximum is -inf
 * becomes all zeros with log-norm -inf.
 * Rows go in blocks of GMMC_BLOCK so that the exp loop runs over a long,
 * contiguous, reduction-free stretch of memory: that is the loop to vectorise. */
#define GMMC_BLOCK 64
#define GMMC_DEFINE_NORMALIZE(NAME, T)                                          \
GMMC_CLONES static double NAME(T *lp, int n, int k, const T *weight,           \
                               T *log_norm)                                    \
{                                                                              \
    double total = 0.0;                                                        \
    double maxes[GMMC_BLOCK];                                                  \
    for (int first = 0; first < n; first += GMMC_BLOCK) {                      \
        int rows = n - first < GMMC_BLOCK ? n - first : GMMC_BLOCK;            \
        T *block = lp + (int64_t)first * k;                                    \
        for (int i = 0; i < rows; i++) {                                       \
            T *row = block + (int64_t)i * k;                                   \
            double m = row[0];                                                 \
            for (int j = 1; j < k; j++)                                        \
                m = row[j] > m ? row[j] : m;                                   \
            maxes[i] = m;                                                      \
            if (m == -INFINITY)                                                \
                m = 0.0; /* all terms are -inf: exp gives zeros */             \
            for (int j = 0; j < k; j++)                                        \
                row[j] = (T)(row[j] - m);                                      \
        }                                                                      \
        for (int64_t idx = 0; idx < (int64_t)rows * k; idx++)                  \
            block[idx] = (T)gmmc_exp_nonpositive((double)block[idx]);          \
        for (int i = 0; i < rows; i++) {                                       \
            T *row = block + (int64_t)i * k;                                   \
            const T *w = weight ? weight + first + i : NULL;                   \
            double s = 0.0, ln;                                                \
            for (int j = 0; j < k; j++)                                        \
                s += row[j];                                                   \
            if (maxes[i] == -INFINITY) {                                       \
                ln = -INFINITY;                                                \
            } else {                                                           \
                double scale = (w ? (double)*w : 1.0) / s;                     \
                ln = maxes[i] + log(s);                                        \
                for (int j = 0; j < k; j++)                                    \
                    row[j] = (T)(row[j] * scale);                              \
            }                                                                  \
            if (log_norm)                                                      \
                log_norm[first + i] = (T)ln;                                   \
            if (!w || *w != 0) /* a zero weight drops even a -inf row */      \
                total += w ? (double)*w * ln : ln;                             \
        }                                                                      \
    }                                                                          \
    return total;                                                              \
}

GMMC_DEFINE_NORMALIZE(gmmc_normalize_rows_d, double)
GMMC_DEFINE_NORMALIZE(gmmc_normalize_rows_f, float)

#endif
