/* Single-article scoring for runtime/scorer_c.py: tokenize, count, look up and score in one pass.
 *
 * For UTF-8 text: lowercase each character as Python's str.lower() does, find the runs of two or more
 * word characters (what scikit-learn's default token pattern, (?u)\b\w\w+\b, finds after lowercasing),
 * look each run up in a table of the vocabulary, and, for a model of words and word pairs, each pair of
 * neighbouring runs joined by one space (what scikit-learn's ngram_range=(1, 2) forms), count the distinct
 * terms found, and return for every label
 *
 *     sum over terms of tf(count) * weight[term][label] / norm,   norm = sqrt(sum of (tf * idf[term])^2)
 *
 * with tf = 1 + log(count) (sublinear) or count, weight = idf x coefficient (runtime/scorer.py's
 * rows). Terms outside the vocabulary add nothing to either sum, as in the Python path.
 *
 * chars_score does the same for character n-grams within words (scikit-learn's analyzer="char_wb"): the
 * terms are the runs of n characters of each whitespace-separated word padded with a space either side.
 *
 * vocabulary_score also counts the article's tokens (single words) and those the vocabulary knows (tokens[0], tokens[1]): the service
 * takes a text whose words the model mostly knows to be in the model's language without running the
 * language detector, which costs ten times the scoring (runtime/language.py).
 *
 * Which characters are word characters or whitespace, and what each lowercases to, comes from Python itself:
 * the caller builds the character table once (charmap_set) from str.isalnum(), str.isspace() and str.lower(),
 * for every code point below 0x40000 (above it nothing is a word character or whitespace or has a case,
 * which tests/test_scorer_c.py checks).
 * The few characters whose lowercase Python does not give one character for one character (U+0130, which
 * becomes two, and capital sigma, whose lowercase depends on its neighbours) are marked: an article that
 * holds one returns -2 and the caller scores it in Python, counting it.
 *
 * Plain C with libc and libm, loaded with ctypes: no Python headers. The vocabulary table is built once
 * and only read afterwards, so threads and forked workers share it. Every buffer is sized from the input
 * length before it is written (or, for the count of character n-grams, grown before it is half full), and
 * both tables are open-addressing tables kept at most half full, so every probe ends.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The calling convention below; runtime/scorer_c.py refuses a library built from another one. */
int64_t scorer_abi(void) { return 4; }

/* 16 bytes, so four slots share a cache line: a lookup touches one slot line and the term's bytes. */
typedef struct {
    uint32_t hash;   /* the low 32 bits of the term's hash, compared before its bytes */
    int32_t column;  /* -1: an empty slot */
    uint32_t offset; /* the term's bytes in terms[] */
    uint32_t length;
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
    int bigrams; /* the model's terms are words and pairs of neighbouring words; 2: and every pair's two
                  * words are terms too, so a pair with an unknown word is not looked up */
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
                     const double *weights, const double *idf, int64_t labels, int sublinear, int bigrams) {
    if (n >= INT32_MAX || offsets[n] >= (int64_t)UINT32_MAX) return NULL; /* slots hold 32-bit fields */
    uint64_t capacity = 16;
    while (capacity < (uint64_t)n * 2) capacity <<= 1;
    vocabulary_t *v = calloc(1, sizeof *v);
    if (v == NULL) return NULL;
    v->mask = capacity - 1;
    v->slots = malloc(capacity * sizeof(slot_t));
    v->terms = malloc((size_t)offsets[n] + 1);
    if (v->slots == NULL || v->terms == NULL) {
        vocabulary_free(v);
        return NULL;
    }
    for (uint64_t j = 0; j < capacity; j++) v->slots[j] = (slot_t){0, -1, 0, 0};
    memcpy(v->terms, terms, (size_t)offsets[n]);
    v->weights = weights;
    v->idf = idf;
    v->labels = labels;
    v->size = n;
    v->sublinear = sublinear;
    v->bigrams = bigrams;
    for (int64_t i = 0; i < n; i++) {
        if (columns[i] < 0 || columns[i] >= INT32_MAX) { /* -1 marks an empty slot; columns are 32-bit */
            vocabulary_free(v);
            return NULL;
        }
        int64_t length = offsets[i + 1] - offsets[i];
        uint64_t hash = fnv1a(v->terms + offsets[i], length), j = hash & v->mask;
        while (v->slots[j].column >= 0) j = (j + 1) & v->mask;
        v->slots[j] = (slot_t){(uint32_t)hash, (int32_t)columns[i], (uint32_t)offsets[i], (uint32_t)length};
    }
    return v;
}

/* The column of the term whose bytes are token[0 .. length) and whose fnv1a hash is hash, or -1. */
static int64_t column_hashed(const vocabulary_t *v, const unsigned char *token, int64_t length, uint64_t hash) {
    uint64_t j = hash & v->mask;
    for (; v->slots[j].column >= 0; j = (j + 1) & v->mask) {
        const slot_t *s = &v->slots[j];
        if (s->hash == (uint32_t)hash && s->length == (uint64_t)length &&
            memcmp(v->terms + s->offset, token, (size_t)length) == 0)
            return s->column;
    }
    return -1;
}

static int64_t column_of(const vocabulary_t *v, const unsigned char *token, int64_t length) {
    return column_hashed(v, token, length, fnv1a(token, length));
}

/* The character table (charmap_set): for each code point below CHARMAP_SIZE, its flags and what it
 * lowercases to. Set once, before any scoring, and only read afterwards. */
#define CHARMAP_SIZE 0x40000
#define CHAR_WORD 1     /* its lowercase is a word character (\w: alphanumeric or '_') */
#define CHAR_FALLBACK 2 /* Python lowercases it other than one character for one, or by context */
#define CHAR_SPACE 4    /* str.isspace(): str.split() splits there */
static const uint8_t *char_flags;
static const int32_t *char_lower;

void charmap_set(const uint8_t *flags, const int32_t *lower) {
    char_flags = flags;
    char_lower = lower;
}

/* Decode one character of valid UTF-8 (the caller encoded the text with Python's strict codec). */
static int32_t decode(const unsigned char *s, int64_t n, int64_t *i) {
    unsigned char c = s[*i];
    int32_t cp;
    int extra;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if (c < 0xE0) {
        cp = c & 0x1F;
        extra = 1;
    } else if (c < 0xF0) {
        cp = c & 0x0F;
        extra = 2;
    } else {
        cp = c & 0x07;
        extra = 3;
    }
    (*i)++;
    for (; extra > 0 && *i < n; extra--, (*i)++) cp = (cp << 6) | (s[*i] & 0x3F);
    return cp;
}

static int64_t encode(int32_t cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One distinct term of an article: its column and how often it came. */
typedef struct {
    int32_t column; /* -1: empty */
    int32_t count;
} term_count_t;

/* Articles up to this many bytes (most headlines and standfirsts) are counted in tables on the stack, about
 * 23 KB of it; longer ones allocate. A model of word pairs counts up to twice the terms per byte, so it
 * keeps articles up to half as long on the stack. */
#define STACK_BYTES 2048

/* Count one more occurrence of a term; returns the number of distinct terms so far. */
static int64_t count_term(term_count_t *table, uint32_t *order, uint64_t capacity, int64_t distinct, int64_t column) {
    uint64_t j = (((uint64_t)column * 0x9E3779B97F4A7C15ULL) >> 17) & (capacity - 1);
    while (table[j].column != -1 && table[j].column != column) j = (j + 1) & (capacity - 1);
    if (table[j].column == -1) {
        table[j] = (term_count_t){(int32_t)column, 0};
        order[distinct++] = (uint32_t)j;
    }
    table[j].count++;
    return distinct;
}

/* out[k] = sum over the counted terms of tf(count) * weight[term][k], divided by the L2 norm of
 * tf * idf over the same terms (1 when the article has none): the vectorizer's normalized row times
 * the coefficients. */
static void normalized_sums(const vocabulary_t *v, const term_count_t *table, const uint32_t *order, int64_t distinct,
                            double *out) {
    double norm2 = 0.0;
    for (int64_t k = 0; k < v->labels; k++) out[k] = 0.0;
    for (int64_t d = 0; d < distinct; d++) {
        const term_count_t *t = &table[order[d]];
        double tf = v->sublinear ? 1.0 + log((double)t->count) : (double)t->count;
        double weighted = tf * v->idf[t->column];
        norm2 += weighted * weighted;
        const double *row = v->weights + (int64_t)t->column * v->labels;
        for (int64_t k = 0; k < v->labels; k++) out[k] += tf * row[k];
    }
    double norm = norm2 > 0.0 ? sqrt(norm2) : 1.0;
    for (int64_t k = 0; k < v->labels; k++) out[k] /= norm;
}

/* Writes the labels' normalized sums to out; returns the number of distinct vocabulary terms found,
 * -1 when memory runs out, -2 when the text holds a character Python lowercases by context or into
 * several, or is over 2 GB (the caller scores that article in Python), -3 when no character table was set. */
int64_t vocabulary_score(const void *handle, const unsigned char *text, int64_t n, double *out, int64_t *tokens) {
    const vocabulary_t *v = handle;
    if (char_flags == NULL || char_lower == NULL) return -3;
    if (n > INT32_MAX) return -2; /* counts and slot numbers below are 32-bit */
    /* A token of two or more characters and the character after it take at least three bytes, so at
     * most n / 3 + 1 tokens fit in n bytes (and one pair fewer than tokens), and no more distinct terms
     * than the vocabulary has: the count table holds at least twice the smaller number. A lowercased
     * token takes at most twice its bytes (a two-byte character can lowercase to a three-byte one), so
     * a pair of two tokens and the space between them fits in 2 n + 1 bytes. */
    uint64_t terms = (uint64_t)(n / 3 + 1) * (v->bigrams ? 2 : 1) - (v->bigrams ? 1 : 0);
    uint64_t most = terms < (uint64_t)v->size ? terms : (uint64_t)v->size;
    uint64_t capacity = 16;
    while (capacity < most * 2) capacity <<= 1;
    unsigned char token_stack[STACK_BYTES * 2 + 4];
    term_count_t table_stack[STACK_BYTES];
    uint32_t order_stack[STACK_BYTES / 3 + 1];
    /* Then capacity <= STACK_BYTES and most <= STACK_BYTES / 3 + 1, for single words (n <= 2048: 683
     * tokens) and for pairs (n <= 1024: 342 tokens and 341 pairs). */
    int small = n <= (v->bigrams ? STACK_BYTES / 2 : STACK_BYTES);
    unsigned char *token = small ? token_stack : malloc((size_t)n * 2 + 4);
    term_count_t *table = small ? table_stack : malloc(capacity * sizeof(term_count_t));
    uint32_t *order = small ? order_stack : malloc((most + 1) * sizeof(uint32_t)); /* filled slots, first seen first */
    if (token == NULL || table == NULL || order == NULL) {
        if (!small) {
            free(token);
            free(table);
            free(order);
        }
        return -1;
    }
    memset(table, 0xff, capacity * sizeof(term_count_t)); /* every column -1 */

    /* The current token is written at token + start: at 0, or for pairs after the previous token and a
     * space, so that token[0 .. start + length) is the pair. */
    int64_t distinct = 0, length = 0, chars = 0, seen = 0, known = 0, start = 0;
    int previous_known = 0;
    for (int64_t i = 0; i <= n;) {
        int word = 0;
        int32_t cp = 0;
        if (i < n) {
            cp = decode(text, n, &i);
            uint8_t flags = cp < CHARMAP_SIZE ? char_flags[cp] : 0;
            if (flags & CHAR_FALLBACK) {
                distinct = -2;
                break;
            }
            word = flags & CHAR_WORD;
        } else {
            i++; /* past the end: close the last token */
        }
        if (word) {
            length += encode(cp < CHARMAP_SIZE ? char_lower[cp] : cp, token + start + length);
            chars++;
            continue;
        }
        if (chars >= 2) {
            int64_t column = column_of(v, token + start, length);
            int is_known = column >= 0;
            seen++;
            if (is_known) {
                known++;
                distinct = count_term(table, order, capacity, distinct, column);
            }
            if (start > 0 && (v->bigrams != 2 || (is_known && previous_known)) &&
                (column = column_of(v, token, start + length)) >= 0)
                distinct = count_term(table, order, capacity, distinct, column);
            if (v->bigrams) { /* this token becomes the first of the next pair */
                memmove(token, token + start, (size_t)length);
                token[length] = ' ';
                start = length + 1;
                previous_known = is_known;
            }
        }
        length = chars = 0;
    }
    if (distinct >= 0) {
        tokens[0] = seen;
        tokens[1] = known;
        normalized_sums(v, table, order, distinct, out);
    }
    if (!small) {
        free(token);
        free(table);
        free(order);
    }
    return distinct;
}

/* A count table that grows: character n-grams are many more per byte than words, and sizing the table for
 * the most an article could hold would clear far more memory than most articles fill. */
typedef struct {
    term_count_t *table;
    uint32_t *order; /* filled slots, first seen first; capacity / 2 entries */
    uint64_t capacity;
    int64_t distinct;
} counter_t;

static int counter_init(counter_t *c, uint64_t capacity) {
    c->capacity = capacity;
    c->distinct = 0;
    c->table = malloc(capacity * sizeof(term_count_t));
    c->order = malloc((capacity / 2 + 1) * sizeof(uint32_t));
    if (c->table == NULL || c->order == NULL) return -1;
    memset(c->table, 0xff, capacity * sizeof(term_count_t));
    return 0;
}

static void counter_free(counter_t *c) {
    free(c->table);
    free(c->order);
}

/* Count one more occurrence of a column, doubling the table first when it would be over half full. */
static int counter_add(counter_t *c, int64_t column) {
    if ((uint64_t)(c->distinct + 1) * 2 > c->capacity) {
        counter_t bigger;
        if (counter_init(&bigger, c->capacity * 2) != 0) {
            counter_free(&bigger);
            return -1;
        }
        for (int64_t d = 0; d < c->distinct; d++) {
            const term_count_t *t = &c->table[c->order[d]];
            bigger.distinct = count_term(bigger.table, bigger.order, bigger.capacity, bigger.distinct, t->column);
            bigger.table[bigger.order[d]].count = t->count;
        }
        counter_free(c);
        *c = bigger;
    }
    c->distinct = count_term(c->table, c->order, c->capacity, c->distinct, column);
    return 0;
}

/* Character n-grams within words, as scikit-learn's analyzer="char_wb" forms them: the lowercased text
 * is split at whitespace (str.split()), each word is padded with one space on either side, and for n
 * from min_n to max_n every run of n characters of the padded word is a term; a padded word of n
 * characters or fewer is one term, and no longer n-grams are formed from it. The terms are looked up,
 * counted and summed as vocabulary_score does; there is no token count. Returns the number of distinct
 * vocabulary terms found, -1 when memory runs out, -2 when the text holds a character Python lowercases
 * by context or into several (or is over 256 MB, or the range is not one the caller checked), -3 when
 * no character table was set. */
int64_t chars_score(const void *handle, const unsigned char *text, int64_t n, int64_t min_n, int64_t max_n,
                    double *out) {
    const vocabulary_t *v = handle;
    if (char_flags == NULL || char_lower == NULL) return -3;
    if (n > INT32_MAX / 8 || min_n < 1 || max_n < min_n) return -2;
    /* The padded word being read: its lowercased bytes (a character lowercases to at most twice its
     * bytes, so at most 2 n + 2) and where each of its characters starts (at most n + 2, and the end). */
    unsigned char *word = malloc((size_t)n * 2 + 3);
    uint32_t *starts = malloc(((size_t)n + 3) * sizeof(uint32_t));
    uint64_t capacity = 64;
    while (capacity < (uint64_t)n * 2 && capacity < (uint64_t)v->size * 2) capacity <<= 1;
    counter_t counter;
    int failed = counter_init(&counter, capacity) != 0 || word == NULL || starts == NULL;
    int64_t chars = 0, bytes = 1; /* characters of the word so far, without the pads; its bytes with the first */
    if (!failed) word[0] = ' ';
    for (int64_t i = 0; i <= n && !failed;) {
        int space = 1;
        int32_t cp = 0;
        if (i < n) {
            cp = decode(text, n, &i);
            uint8_t flags = cp < CHARMAP_SIZE ? char_flags[cp] : 0;
            if (flags & CHAR_FALLBACK) {
                counter.distinct = -2;
                break;
            }
            space = flags & CHAR_SPACE;
        } else {
            i++; /* past the end: close the last word */
        }
        if (!space) {
            starts[++chars] = (uint32_t)bytes;
            bytes += encode(cp < CHARMAP_SIZE ? char_lower[cp] : cp, word + bytes);
            continue;
        }
        if (chars == 0) continue;
        int64_t padded = chars + 2;
        starts[0] = 0;
        starts[chars + 1] = (uint32_t)bytes;
        word[bytes++] = ' ';
        starts[padded] = (uint32_t)bytes;
        /* By start, then length: each longer n-gram's hash extends the shorter one's (fnv1a reads
         * bytes in order), so every byte is hashed once per length it ends. */
        for (int64_t s = 0; s < padded && !failed; s++) {
            uint64_t hash = 14695981039346656037ULL;
            for (int64_t g = 1; g <= max_n && s + g <= padded; g++) {
                for (uint32_t b = starts[s + g - 1]; b < starts[s + g]; b++) {
                    hash ^= word[b];
                    hash *= 1099511628211ULL;
                }
                if (g < min_n) continue;
                int64_t column = column_hashed(v, word + starts[s], starts[s + g] - starts[s], hash);
                if (column >= 0 && counter_add(&counter, column) != 0) {
                    failed = 1;
                    break;
                }
            }
        }
        if (padded < min_n && !failed) { /* a word shorter than the shortest n-gram is one term */
            int64_t column = column_of(v, word, bytes);
            if (column >= 0 && counter_add(&counter, column) != 0) failed = 1;
        }
        chars = 0;
        bytes = 1;
    }
    int64_t distinct = failed ? -1 : counter.distinct;
    if (distinct >= 0) normalized_sums(v, counter.table, counter.order, distinct, out);
    counter_free(&counter);
    free(word);
    free(starts);
    return distinct;
}
