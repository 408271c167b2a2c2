/* One pass over a pair of equal-dtype arrays for every metric of compare/metrics.py.
 *
 * The numpy sweep takes about fifteen passes over each chunk (subtract, abs, argmax, four dot
 * products, two sums, a count, a division...); this loop reads each element once. It computes
 * what metrics._sweep computes, per chunk, with the same element arithmetic in the same work
 * type (float32 for 8/16-bit integers and float32, float64 for float64), so max |a - b|, its index,
 * the equal count, the max relative diff and min atol are the numpy path's bit for bit. The five
 * sums (x.x, y.y, x.y, sum of squared diffs, sum of abs diffs) are accumulated in double: on ordinary
 * tensors they agree with numpy's float32 pairwise sums to float32 rounding, and where float32
 * products underflow, overflow or cancel they stay right where those do not.
 *
 * Chunks that hold a NaN or an infinity (or whose difference overflows) are not handled here: the
 * sweep returns None and the caller takes the numpy path for the whole pair.
 *
 * The GIL is released during the loop, so the two halves of a large pair run on two cores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>

/* Float arithmetic must round to float at each step, as numpy's float32 loops do (not so on x87). */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "bmtrace.compare._fused needs FLT_EVAL_METHOD 0; the numpy sweep is used instead"
#endif

/* A chunk's element count and offsets are 32-bit in the loops. */
#define MAX_CHUNK (1 << 30)

typedef struct {
    double max_abs;
    Py_ssize_t max_index; /* -1: no non-zero difference */
    Py_ssize_t equal;
    double max_rel;
    double min_atol;
} figures;

/* The elements of a chunk are dealt to LANES lanes by their offset in the chunk, each with its own
 * running figures, folded in lane order at the end of the chunk: the compiler can then run the lanes
 * in SIMD registers (a C compiler keeps one accumulator's additions in order), and the result depends
 * on the offsets only, never on the buffers' addresses. The five sums, in double, have HALF lanes:
 * lane j adds the products of offsets j and j + HALF of each group of LANES elements (eight double
 * lanes of five sums would not fit in the sixteen AVX2 registers beside the other figures). */
#define LANES 8
#define HALF (LANES / 2)

/* An AVX2 build of each loop beside the baseline one, chosen when the module loads: the lanes above
 * run 4x faster in 256-bit registers, and a machine without AVX2 still gets code it can run. No
 * fused multiply-adds in either (-ffp-contract=off), so both give the same bits. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) /* ifunc */
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

/* Element j of the group at qa/qb (chunk offset k), into lane j; its x, y and |x - y| in double go to
 * px, py, pd for the sums. */
#define ELEMENT(W, ABS, WMAX, k, j)                                                           \
    {                                                                                         \
        W x = (W)qa[j], y = (W)qb[j];                                                         \
        W d = ABS(x - y);                                                                     \
        ok[j] &= d <= WMAX;                                                                   \
        int up = d > mx[j];                                                                   \
        mx[j] = up ? d : mx[j];                                                               \
        mi[j] = up ? (k) : mi[j];                                                             \
        eq[j] += d == 0;                                                                      \
        /* |d / x| skips x = 0 by itself: 0/0 is NaN, d/0 is Inf, and neither passes */       \
        W q = ABS(d / x);                                                                     \
        mr[j] = q > mr[j] && q <= WMAX ? q : mr[j];                                           \
        W v = d - ABS(x) * r;                                                                 \
        ma[j] = v > ma[j] ? v : ma[j];                                                        \
        px[j] = (double)x;                                                                    \
        py[j] = (double)y;                                                                    \
        pd[j] = (double)d;                                                                    \
    }

/* Products of elements j and j + HALF of a group into sum lane j. */
#define GROUP_SUMS(j)                                                                         \
    {                                                                                         \
        xx[j] += px[j] * px[j] + px[j + HALF] * px[j + HALF];                                 \
        yy[j] += py[j] * py[j] + py[j + HALF] * py[j + HALF];                                 \
        xy[j] += px[j] * py[j] + px[j + HALF] * py[j + HALF];                                 \
        dd[j] += pd[j] * pd[j] + pd[j + HALF] * pd[j + HALF];                                 \
        sa[j] += pd[j] + pd[j + HALF];                                                        \
    }

/* Products of tail element j alone into sum lane l. */
#define TAIL_SUMS(j, l)                                                                       \
    {                                                                                         \
        xx[l] += px[j] * px[j];                                                               \
        yy[l] += py[j] * py[j];                                                               \
        xy[l] += px[j] * py[j];                                                               \
        dd[l] += pd[j] * pd[j];                                                               \
        sa[l] += pd[j];                                                                       \
    }

/* Chunk [s, e) of two arrays, starting at pa and pb, of element type T worked in W (float or double)
 * whose largest finite value is WMAX. Writes the chunk's five sums to sums[0..4]; returns 0, or -1 for a non-finite
 * difference (NaN or Inf on a side, or a difference that overflows). */
#define DEFINE_CHUNK(NAME, T, W, ABS, WMAX)                                                   \
    CLONES static int NAME(const T *pa, const T *pb, Py_ssize_t s, Py_ssize_t e, W r,        \
                           int use_rtol, figures *f, double *sums)                            \
    {                                                                                         \
        double xx[HALF] = {0}, yy[HALF] = {0}, xy[HALF] = {0}, dd[HALF] = {0};                \
        double sa[HALF] = {0}, px[LANES], py[LANES], pd[LANES];                               \
        W mx[LANES] = {0}, mr[LANES] = {0}, ma[LANES] = {0};                                  \
        int32_t mi[LANES], eq[LANES] = {0}, ok[LANES];                                        \
        int32_t n = (int32_t)(e - s), i, j;                                                   \
        const T *qa, *qb;                                                                     \
        for (j = 0; j < LANES; j++) {                                                         \
            mi[j] = -1;                                                                       \
            ok[j] = 1;                                                                        \
        }                                                                                     \
        for (i = 0; i <= n - LANES; i += LANES) { /* (i + LANES could overflow near 2^31) */  \
            qa = pa + i; /* contiguous: with an index i + j the compiler gathered */          \
            qb = pb + i;                                                                      \
            for (j = 0; j < LANES; j++)                                                       \
                ELEMENT(W, ABS, WMAX, i + j, j)                                               \
            for (j = 0; j < HALF; j++)                                                        \
                GROUP_SUMS(j)                                                                 \
        }                                                                                     \
        qa = pa + i;                                                                          \
        qb = pb + i;                                                                          \
        for (j = 0; i + j < n; j++) { /* the tail, fewer than LANES elements */               \
            ELEMENT(W, ABS, WMAX, i + j, j)                                                   \
            TAIL_SUMS(j, j % HALF)                                                            \
        }                                                                                     \
        double t[5] = {0};                                                                    \
        for (j = 0; j < LANES; j++) {                                                         \
            if (!ok[j])                                                                       \
                return -1;                                                                    \
            f->equal += eq[j];                                                                \
            /* the first occurrence of the chunk's maximum: the lowest offset among equal maxima */ \
            if (mi[j] >= 0 && ((double)mx[j] > f->max_abs                                     \
                               || ((double)mx[j] == f->max_abs && s + mi[j] < f->max_index))) { \
                f->max_abs = (double)mx[j];                                                   \
                f->max_index = s + mi[j];                                                     \
            }                                                                                 \
            if ((double)mr[j] > f->max_rel)                                                   \
                f->max_rel = (double)mr[j];                                                   \
            if (use_rtol && (double)ma[j] > f->min_atol)                                      \
                f->min_atol = (double)ma[j];                                                  \
        }                                                                                     \
        for (j = 0; j < HALF; j++) {                                                          \
            t[0] += xx[j];                                                                    \
            t[1] += yy[j];                                                                    \
            t[2] += xy[j];                                                                    \
            t[3] += dd[j];                                                                    \
            t[4] += sa[j];                                                                    \
        }                                                                                     \
        for (j = 0; j < 5; j++)                                                               \
            sums[j] = t[j];                                                                   \
        return 0;                                                                             \
    }

DEFINE_CHUNK(chunk_f32, float, float, fabsf, FLT_MAX)
DEFINE_CHUNK(chunk_f64, double, double, fabs, DBL_MAX)

/* 8/16-bit integers are converted to float32 (exactly) a chunk at a time, then swept as float32. */
#define DEFINE_WIDEN(NAME, T)                                                                 \
    CLONES static void NAME(const void *src, float *dst, Py_ssize_t n)                        \
    {                                                                                         \
        const T *p = (const T *)src;                                                          \
        Py_ssize_t i;                                                                         \
        for (i = 0; i < n; i++)                                                               \
            dst[i] = (float)p[i];                                                             \
    }

DEFINE_WIDEN(widen_u8, uint8_t)
DEFINE_WIDEN(widen_i8, int8_t)
DEFINE_WIDEN(widen_u16, uint16_t)
DEFINE_WIDEN(widen_i16, int16_t)

/* numpy converts any non-zero byte of a bool array to 1 (a .view(bool) may hold other bytes). */
CLONES static void widen_bool(const void *src, float *dst, Py_ssize_t n)
{
    const uint8_t *p = (const uint8_t *)src;
    Py_ssize_t i;
    for (i = 0; i < n; i++)
        dst[i] = p[i] != 0;
}

/* Every chunk of [begin, end) in order, with FN for element type T worked in W. */
#define RUN_CHUNKS(FN, T, W, PA, PB)                                                          \
    for (c = 0, s = begin; s < end && !bad; c++, s += chunk) {                                \
        Py_ssize_t e = s + chunk < end ? s + chunk : end;                                     \
        bad = FN((const T *)(PA), (const T *)(PB), s, e, (W)rtol, use_rtol, &f, out + 5 * c); \
    }

static PyObject *
sweep(PyObject *self, PyObject *args)
{
    Py_buffer va, vb, vo;
    int code;
    Py_ssize_t begin, end, chunk, c, s;
    double rtol;
    if (!PyArg_ParseTuple(args, "y*y*Cnnndw*", &va, &vb, &code, &begin, &end, &chunk, &rtol, &vo))
        return NULL;
    PyObject *result = NULL;
    figures f = {0.0, -1, 0, 0.0, 0.0};
    Py_ssize_t itemsize, chunks;
    double *out = (double *)vo.buf;
    int use_rtol = rtol > 0.0, bad = 0;
    switch (code) {
    case 'f': itemsize = 4; break;
    case 'd': itemsize = 8; break;
    case 'B': case 'b': case '?': itemsize = 1; break;
    case 'H': case 'h': itemsize = 2; break;
    default:
        PyErr_Format(PyExc_ValueError, "unsupported element code %c", code);
        goto done;
    }
    chunks = chunk > 0 && end > begin ? (end - begin + chunk - 1) / chunk : 0;
    /* (divisions, not products: a huge end or chunk count must not wrap past the checks) */
    if (chunk <= 0 || chunk > MAX_CHUNK || begin < 0 || begin > end || end > va.len / itemsize
        || end > vb.len / itemsize || chunks > vo.len / (Py_ssize_t)(5 * sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "sweep: ranges or buffers do not fit");
        goto done;
    }
    const char *a = (const char *)va.buf, *b = (const char *)vb.buf;
    if (code == 'f') {
        Py_BEGIN_ALLOW_THREADS
        RUN_CHUNKS(chunk_f32, float, float, a + 4 * s, b + 4 * s)
        Py_END_ALLOW_THREADS
    } else if (code == 'd') {
        Py_BEGIN_ALLOW_THREADS
        RUN_CHUNKS(chunk_f64, double, double, a + 8 * s, b + 8 * s)
        Py_END_ALLOW_THREADS
    } else {
        void (*widen)(const void *, float *, Py_ssize_t) =
            code == 'B' ? widen_u8 : code == 'b' ? widen_i8 : code == 'H' ? widen_u16
            : code == '?' ? widen_bool : widen_i16;
        float *xs = PyMem_RawMalloc(2 * sizeof(float) * (size_t)(chunk < end - begin ? chunk : end - begin + 1));
        if (xs == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        float *ys = xs + (chunk < end - begin ? chunk : end - begin + 1);
        Py_BEGIN_ALLOW_THREADS
        RUN_CHUNKS(chunk_f32, float, float,
                   (widen(a + itemsize * s, xs, (s + chunk < end ? chunk : end - s)), xs),
                   (widen(b + itemsize * s, ys, (s + chunk < end ? chunk : end - s)), ys))
        Py_END_ALLOW_THREADS
        PyMem_RawFree(xs);
    }
    if (bad) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    result = Py_BuildValue("(dnndd)", f.max_abs, f.max_index, f.equal, f.max_rel, f.min_atol);
done:
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&vo);
    return result;
}

static PyMethodDef methods[] = {
    {"sweep", sweep, METH_VARARGS,
     "sweep(a, b, code, begin, end, chunk, rtol, out) -> (max_abs, max_index, equal, max_rel, "
     "min_atol) or None\n\nElements [begin, end) of two C-contiguous buffers of element type code "
     "(struct codes f d B b H h); each chunk's five sums go to out, a float64 buffer of 5 per chunk."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fused", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__fused(void)
{
    return PyModule_Create(&module);
}
