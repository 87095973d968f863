/* Single-article scoring for runtime/scorer_c.py: tokenize, count, look up and score in one pass.
 *
 * For ASCII text only (the caller checks): lowercase, find the runs of two or more [a-z0-9_] (what
 * scikit-learn's default token pattern finds in ASCII text), look each run up in a table of the
 * vocabulary, count the distinct terms found, and return for every label
 *
 *     sum over terms of tf(count) * weight[term][label] / norm,   norm = sqrt(sum of (tf * idf[term])^2)
 *
 * with tf = 1 + log(count) (sublinear) or count, weight = idf x coefficient (runtime/scorer.py's
 * rows). Terms outside the vocabulary add nothing to either sum, as in the Python path.
 *
 * Plain C with libc and libm, loaded with ctypes: no Python headers. The vocabulary table is built once
 * and only read afterwards, so threads and forked workers share it. Every buffer is sized from the input
 * length before it is written, and both tables are open-addressing tables kept at most half full, so
 * every probe ends.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    int64_t column;
    int64_t length;
    const unsigned char *term; /* NULL: an empty slot */
} slot_t;

typedef struct {
    uint64_t mask;
    slot_t *slots;
    unsigned char *terms;
    const double *weights; /* (columns + 1) x labels, row-major; owned by the caller */
    const double *idf;     /* columns + 1; owned by the caller */
    int64_t labels;
    int64_t size; /* number of terms */
    int sublinear;
} vocabulary_t;

static uint64_t fnv1a(const unsigned char *s, int64_t n) {
    uint64_t h = 14695981039346656037ULL;
    for (int64_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void vocabulary_free(void *handle) {
    vocabulary_t *v = handle;
    if (v == NULL) return;
    free(v->slots);
    free(v->terms);
    free(v);
}

/* terms: the n terms' UTF-8 bytes one after another, term i at offsets[i]..offsets[i + 1];
 * columns[i]: its column. Returns NULL when memory runs out. */
void *vocabulary_new(const unsigned char *terms, const int64_t *offsets, const int64_t *columns, int64_t n,
                     const double *weights, const double *idf, int64_t labels, int sublinear) {
    uint64_t capacity = 16;
    while (capacity < (uint64_t)n * 4) capacity <<= 1;
    vocabulary_t *v = calloc(1, sizeof *v);
    if (v == NULL) return NULL;
    v->mask = capacity - 1;
    v->slots = calloc(capacity, sizeof(slot_t));
    v->terms = malloc((size_t)offsets[n] + 1);
    if (v->slots == NULL || v->terms == NULL) {
        vocabulary_free(v);
        return NULL;
    }
    memcpy(v->terms, terms, (size_t)offsets[n]);
    v->weights = weights;
    v->idf = idf;
    v->labels = labels;
    v->size = n;
    v->sublinear = sublinear;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *term = v->terms + offsets[i];
        int64_t length = offsets[i + 1] - offsets[i];
        uint64_t hash = fnv1a(term, length), j = hash & v->mask;
        while (v->slots[j].term != NULL) j = (j + 1) & v->mask;
        v->slots[j] = (slot_t){hash, columns[i], length, term};
    }
    return v;
}

static int64_t column_of(const vocabulary_t *v, const unsigned char *token, int64_t length) {
    uint64_t hash = fnv1a(token, length), j = hash & v->mask;
    for (; v->slots[j].term != NULL; j = (j + 1) & v->mask) {
        const slot_t *s = &v->slots[j];
        if (s->hash == hash && s->length == length && memcmp(s->term, token, (size_t)length) == 0) return s->column;
    }
    return -1;
}

static int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Writes the labels' normalized sums to out; returns the number of distinct vocabulary terms found,
 * or -1 when memory runs out. */
int64_t vocabulary_score(const void *handle, const unsigned char *text, int64_t n, double *out) {
    const vocabulary_t *v = handle;
    /* At most n / 3 + 1 tokens of two or more characters fit in n bytes, and no more distinct terms
     * than the vocabulary has: the count table holds at least twice the smaller number. */
    uint64_t most = (uint64_t)(n / 3 + 1) < (uint64_t)v->size ? (uint64_t)(n / 3 + 1) : (uint64_t)v->size;
    uint64_t capacity = 16;
    while (capacity < most * 2) capacity <<= 1;
    unsigned char *lower = malloc((size_t)n + 1);
    int64_t *keys = malloc(capacity * sizeof(int64_t));
    int64_t *counts = calloc(capacity, sizeof(int64_t));
    if (lower == NULL || keys == NULL || counts == NULL) {
        free(lower);
        free(keys);
        free(counts);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) lower[i] = (text[i] >= 'A' && text[i] <= 'Z') ? text[i] + 32 : text[i];
    for (uint64_t j = 0; j < capacity; j++) keys[j] = -1;

    int64_t distinct = 0;
    for (int64_t i = 0; i < n;) {
        while (i < n && !is_word(lower[i])) i++;
        int64_t start = i;
        while (i < n && is_word(lower[i])) i++;
        if (i - start < 2) continue;
        int64_t column = column_of(v, lower + start, i - start);
        if (column < 0) continue;
        uint64_t j = (((uint64_t)column * 0x9E3779B97F4A7C15ULL) >> 17) & (capacity - 1);
        while (keys[j] != -1 && keys[j] != column) j = (j + 1) & (capacity - 1);
        if (keys[j] == -1) {
            keys[j] = column;
            distinct++;
        }
        counts[j]++;
    }

    double norm2 = 0.0;
    for (int64_t k = 0; k < v->labels; k++) out[k] = 0.0;
    for (uint64_t j = 0; j < capacity; j++) {
        if (keys[j] < 0) continue;
        double tf = v->sublinear ? 1.0 + log((double)counts[j]) : (double)counts[j];
        double weighted = tf * v->idf[keys[j]];
        norm2 += weighted * weighted;
        const double *row = v->weights + keys[j] * v->labels;
        for (int64_t k = 0; k < v->labels; k++) out[k] += tf * row[k];
    }
    double norm = norm2 > 0.0 ? sqrt(norm2) : 1.0;
    for (int64_t k = 0; k < v->labels; k++) out[k] /= norm;
    free(lower);
    free(keys);
    free(counts);
    return distinct;
}
