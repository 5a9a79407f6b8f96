/* The per-record hot loop of `credence verify`, compiled: leaf bytes built and hashed in C.

   What it computes is defined by the pure-Python code it replaces, which stays
   the reference and the fallback (credence/ledger/leafhash.py); the tests compare
   both on adversarial inputs. Four functions:

   record_leaf_hashes(...)  SHA-256(0x00 || leaf) of each record, the leaf
       rebuilt from its stored columns as verify_fast's comprehensions write it
       (content, salted record hash, HMAC of the subject, leaf text); None when
       a value is not of the kind those comprehensions take (not str/bytes/int,
       or text that is not UTF-8), so the caller walks the chunk instead.
   arrow_leaf_hashes(...)   the same for ingest's sealed columns, read from their Arrow
       buffers (seqs from first_seq, one source); None where the caller's Arrow path
       seals instead (text to escape, not UTF-8, a null where a value must be).
   perfect_levels(hashes)   merkle.perfect_levels: every perfect subtree, by
       level; None when an item is not bytes.
   subtrees(start, hashes)  store.sealing.subtrees: the perfect aligned subtrees that
       cover leaves at seqs [start, start + n); None when a hash is not 32 bytes.

   Why C: in Python a record cost about 1.2-2.2 us here in f-strings, encode()
   and three hashlib calls (each call ~0.25 us of overhead on ~0.1 us of
   hashing). SHA-256 is OpenSSL's: libcrypto is found at import with dlopen (the
   library Python's own hashlib already loaded), so building this needs only a
   C compiler and Python's headers, not OpenSSL's; without libcrypto the import
   fails and the Python path runs. Only SHA256_Init/Update/Final are used, an ABI
   unchanged from OpenSSL 0.9.8 to 3.x (deprecated in 3.0, still exported).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"

#ifndef _WIN32
#include <dlfcn.h>
#endif

/* OpenSSL's SHA256_CTX (unchanged since 0.9.8: 28 32-bit words), with room to spare: only
   OpenSSL writes into it, and copies of it copy all of it. */
typedef union {
    struct {
        unsigned int h[8], Nl, Nh, data[16], num, md_len;
    } ctx;
    unsigned char room[256];
    long long align;
} Sha256Ctx;

typedef int (*init_fn)(Sha256Ctx *);
typedef int (*update_fn)(Sha256Ctx *, const void *, size_t);
typedef int (*final_fn)(unsigned char *, Sha256Ctx *);
static init_fn sha256_init;
static update_fn sha256_update;
static final_fn sha256_final;

/* SHA-256 of one buffer. (OpenSSL 3's one-shot SHA256() looks the digest up by name on each
   call, 0.4 us; the low-level calls go straight to the block function.) */
static void sha256(const void *data, size_t n, unsigned char *out) {
    Sha256Ctx c;
    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final(out, &c);
}

/* Buf (buf.h) is reused across the records of a call. */
#define PUT(b, lit) put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

enum { OK = 0, FAIL = -1, DECLINE = 1 }; /* DECLINE: not a value the fast path takes */

/* A value's bytes, wherever they live (a str's UTF-8, a bytes object, an Arrow buffer);
   p == NULL for None / null. */
typedef struct {
    const char *p;
    Py_ssize_t n;
} Text;

/* The UTF-8 bytes of an exact str (what f-string + .encode() write), a null Text for None,
   else DECLINE. */
static int text_of(PyObject *o, Text *t) {
    t->p = NULL;
    t->n = 0;
    if (o == Py_None) return OK;
    if (!PyUnicode_CheckExact(o)) return DECLINE;
    t->p = PyUnicode_AsUTF8AndSize(o, &t->n);
    if (t->p == NULL) { /* lone surrogates: .encode() raises, the caller walks */
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            return DECLINE;
        }
        return FAIL;
    }
    return OK;
}

/* A value that must be there (the f-strings would write "None"): DECLINE when null. */
static int put_text(Buf *b, Text t) {
    if (t.p == NULL) return DECLINE;
    return put(b, t.p, t.n) < 0 ? FAIL : OK;
}

static void hex(const unsigned char *d, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
}

#define TRY(x)                           \
    do {                                 \
        int _r = (x);                    \
        if (_r != OK) return _r;         \
    } while (0)

/* A record's values, in the order of the columns record_leaf_hashes takes after seq. */
enum { SALT, ATTRIBUTES, CORRECTS, DECIDED, ITEM, OCCURRED, REFERENCE, SOURCE, SUBJECT, NVALUES };

/* Record.content() with its salt in front, as verify_fast writes it for plain values. */
static int content(Buf *b, const Text *v) {
    TRY(put_text(b, v[SALT]));
    TRY(PUT(b, "{"));
    if (v[ATTRIBUTES].p != NULL) {
        TRY(PUT(b, "\"attributes\":"));
        TRY(put_text(b, v[ATTRIBUTES]));
        TRY(PUT(b, ","));
    }
    if (v[CORRECTS].p != NULL) {
        TRY(PUT(b, "\"corrects\":\""));
        TRY(put_text(b, v[CORRECTS]));
        TRY(PUT(b, "\","));
    }
    if (v[DECIDED].p != NULL) {
        TRY(PUT(b, "\"decided_on\":\""));
        TRY(put_text(b, v[DECIDED]));
        TRY(PUT(b, "\","));
    }
    TRY(PUT(b, "\"item\":\""));
    TRY(put_text(b, v[ITEM]));
    TRY(PUT(b, "\",\"occurred_on\":\""));
    TRY(put_text(b, v[OCCURRED]));
    TRY(PUT(b, "\",\"reference\":\""));
    TRY(put_text(b, v[REFERENCE]));
    TRY(PUT(b, "\",\"source\":\""));
    TRY(put_text(b, v[SOURCE]));
    TRY(PUT(b, "\",\"subject\":\""));
    TRY(put_text(b, v[SUBJECT]));
    return PUT(b, "\"}");
}

/* The leaf text (record_leaf) behind its 0x00 prefix. */
static int leaf(Buf *b, const Text *v, const char *record_hex, long long seq,
                const char *subject_hex, long long version) {
    char number[32];
    TRY(put(b, "\0{\"decided_on\":", 15));
    if (v[DECIDED].p == NULL) {
        TRY(PUT(b, "null"));
    } else {
        TRY(PUT(b, "\""));
        TRY(put_text(b, v[DECIDED]));
        TRY(PUT(b, "\""));
    }
    TRY(PUT(b, ",\"item\":\""));
    TRY(put_text(b, v[ITEM]));
    TRY(PUT(b, "\",\"kind\":\"record\",\"occurred_on\":\""));
    TRY(put_text(b, v[OCCURRED]));
    TRY(PUT(b, "\",\"record_hash\":\""));
    TRY(put(b, record_hex, 64));
    TRY(PUT(b, "\",\"seq\":"));
    TRY(put(b, number, snprintf(number, sizeof number, "%lld", seq)));
    TRY(PUT(b, ",\"source\":\""));
    TRY(put_text(b, v[SOURCE]));
    TRY(PUT(b, "\",\"subject_hash\":\""));
    TRY(put(b, subject_hex, 64));
    TRY(PUT(b, "\",\"v\":"));
    TRY(put(b, number, snprintf(number, sizeof number, "%lld", version)));
    return PUT(b, "}");
}

/* The key's HMAC pads hashed once a call: the hash states to resume per subject. */
typedef struct {
    Sha256Ctx inner, outer;
} Hmac;

static void hmac_start(Hmac *h, const Py_buffer *key) {
    unsigned char keyblock[64] = {0}, ipad[64], opad[64];
    if (key->len > 64)
        sha256(key->buf, (size_t)key->len, keyblock);
    else
        memcpy(keyblock, key->buf, (size_t)key->len);
    for (int i = 0; i < 64; i++) {
        ipad[i] = keyblock[i] ^ 0x36;
        opad[i] = keyblock[i] ^ 0x5c;
    }
    sha256_init(&h->inner);
    sha256_update(&h->inner, ipad, 64);
    sha256_init(&h->outer);
    sha256_update(&h->outer, opad, 64);
}

/* HMAC-SHA256 (RFC 2104) of `subject`, from the hash states after the key's padded blocks. */
static int subject_digest(const Hmac *h, Text subject, char *out_hex) {
    if (subject.p == NULL) return DECLINE;
    unsigned char inner[32], outer[32];
    Sha256Ctx c = h->inner;
    sha256_update(&c, subject.p, (size_t)subject.n);
    sha256_final(inner, &c);
    c = h->outer;
    sha256_update(&c, inner, 32);
    sha256_final(outer, &c);
    hex(outer, out_hex);
    return OK;
}

/* SHA-256(0x00 || leaf) of one record into `out`: content hashed (record hash), subject
   keyed, leaf written and hashed. `text` is the caller's scratch buffer. */
static int record_leaf_hash(Buf *text, const Hmac *h, long long seq, const Text *v,
                            long long version, unsigned char *out) {
    char record_hex[64], subject_hex[64];
    unsigned char digest[32];
    text->n = 0;
    TRY(content(text, v));
    sha256((const unsigned char *)text->p, (size_t)text->n, digest);
    hex(digest, record_hex);
    TRY(subject_digest(h, v[SUBJECT], subject_hex));
    text->n = 0;
    TRY(leaf(text, v, record_hex, seq, subject_hex, version));
    sha256((const unsigned char *)text->p, (size_t)text->n, out);
    return OK;
}

/* A sequence argument as a fast sequence of exactly n items, or NULL (error set). */
static PyObject *column(PyObject *o, Py_ssize_t n, const char *name) {
    PyObject *fast = PySequence_Fast(o, name);
    if (fast != NULL && PySequence_Fast_GET_SIZE(fast) != n) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%s: columns of different lengths", name);
        return NULL;
    }
    return fast;
}

/* One record's values from the Python columns (after seq): DECLINE unless the salt is
   exact bytes and the others exact str or None. */
static int row_values(PyObject **cols, Py_ssize_t i, Text *v) {
    PyObject *salt = PySequence_Fast_GET_ITEM(cols[0], i);
    if (!PyBytes_CheckExact(salt)) return DECLINE;
    v[SALT].p = PyBytes_AS_STRING(salt);
    v[SALT].n = PyBytes_GET_SIZE(salt);
    for (int c = ATTRIBUTES; c < NVALUES; c++)
        TRY(text_of(PySequence_Fast_GET_ITEM(cols[c], i), &v[c]));
    return OK;
}

#define NCOLS (1 + NVALUES)

/* Row i's outcome: its hash put in the list `*out` (0), or the list dropped (-1), for
   None on DECLINE or NULL with the error set. */
static int stored(PyObject **out, Py_ssize_t i, int r, const unsigned char *digest) {
    PyObject *hash = r == OK ? PyBytes_FromStringAndSize((const char *)digest, 32) : NULL;
    if (hash == NULL) {
        Py_CLEAR(*out);
        if (r == DECLINE) *out = Py_NewRef(Py_None);
        return -1;
    }
    PyList_SET_ITEM(*out, i, hash);
    return 0;
}

static PyObject *record_leaf_hashes(PyObject *self, PyObject *args) {
    PyObject *in[NCOLS], *cols[NCOLS] = {NULL};
    static const char *names[NCOLS] = {"seq",      "salt",     "attributes", "corrects",
                                       "decided",  "item",     "occurred",   "reference",
                                       "source",   "subject"};
    Py_buffer key;
    long long version;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOy*L:record_leaf_hashes", &in[0], &in[1], &in[2],
                          &in[3], &in[4], &in[5], &in[6], &in[7], &in[8], &in[9], &key,
                          &version))
        return NULL;
    PyObject *out = NULL;
    Buf text = {NULL, 0, 0};
    Hmac h;
    hmac_start(&h, &key);
    Py_ssize_t n = PyObject_Length(in[0]);
    if (n < 0) goto done;
    for (int c = 0; c < NCOLS; c++)
        if ((cols[c] = column(in[c], n, names[c])) == NULL) goto done;
    out = PyList_New(n);
    if (out == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        Text v[NVALUES];
        unsigned char digest[32];
        long long seq = 0;
        int r = row_values(cols + 1, i, v);
        PyObject *number = PySequence_Fast_GET_ITEM(cols[0], i);
        if (r == OK && !PyLong_CheckExact(number)) r = DECLINE;
        if (r == OK) {
            int overflow;
            seq = PyLong_AsLongLongAndOverflow(number, &overflow);
            if (overflow) r = DECLINE;
            else if (seq == -1 && PyErr_Occurred()) r = FAIL;
        }
        if (r == OK) r = record_leaf_hash(&text, &h, seq, v, version, digest);
        if (stored(&out, i, r, digest) < 0) goto done;
    }
done:
    for (int c = 0; c < NCOLS; c++) Py_XDECREF(cols[c]);
    PyMem_Free(text.p);
    PyBuffer_Release(&key);
    return out;
}

/* An Arrow string or binary array (32-bit offsets) from its buffers, read in place. */
typedef struct {
    Py_buffer validity, offsets, data;
    int has_validity, has_offsets, has_data;
    Py_ssize_t offset;
} ArrowColumn;

static void release_column(ArrowColumn *c) {
    if (c->has_validity) PyBuffer_Release(&c->validity);
    if (c->has_offsets) PyBuffer_Release(&c->offsets);
    if (c->has_data) PyBuffer_Release(&c->data);
    c->has_validity = c->has_offsets = c->has_data = 0;
}

/* (offset, validity, offsets, data) of an array of n values, each buffer None or
   supporting the buffer protocol; ValueError when the buffers are too short for n. */
static int open_column(PyObject *spec, Py_ssize_t n, ArrowColumn *c) {
    PyObject *validity, *offsets, *data;
    memset(c, 0, sizeof *c);
    if (!PyArg_ParseTuple(spec, "nOOO:an Arrow column", &c->offset, &validity, &offsets, &data))
        return -1;
    if (validity != Py_None) {
        if (PyObject_GetBuffer(validity, &c->validity, PyBUF_SIMPLE) < 0) return -1;
        c->has_validity = 1;
    }
    if (offsets == Py_None) {
        PyErr_SetString(PyExc_ValueError, "an Arrow column without offsets");
        return -1;
    }
    if (PyObject_GetBuffer(offsets, &c->offsets, PyBUF_SIMPLE) < 0) return -1;
    c->has_offsets = 1;
    if (data != Py_None) {
        if (PyObject_GetBuffer(data, &c->data, PyBUF_SIMPLE) < 0) return -1;
        c->has_data = 1;
    }
    Py_ssize_t end = c->offset + n;
    if (c->offset < 0 || c->offsets.len / 4 < end + 1 ||
        (c->has_validity && c->validity.len * 8 < end)) {
        PyErr_SetString(PyExc_ValueError, "an Arrow column shorter than its rows");
        return -1;
    }
    return 0;
}

/* Row i of a column: a null Text when null; ValueError when the offsets leave the data. */
static int arrow_value(const ArrowColumn *c, Py_ssize_t i, Text *t) {
    static const char empty[1] = "";
    Py_ssize_t j = c->offset + i;
    t->p = NULL;
    t->n = 0;
    if (c->has_validity && !((((const unsigned char *)c->validity.buf)[j >> 3] >> (j & 7)) & 1))
        return OK;
    int32_t start, stop;
    memcpy(&start, (const char *)c->offsets.buf + 4 * j, 4);
    memcpy(&stop, (const char *)c->offsets.buf + 4 * (j + 1), 4);
    Py_ssize_t size = c->has_data ? c->data.len : 0;
    if (start < 0 || stop < start || stop > size) {
        PyErr_SetString(PyExc_ValueError, "Arrow offsets outside the data");
        return FAIL;
    }
    t->p = stop > start ? (const char *)c->data.buf + start : empty;
    t->n = stop - start;
    return OK;
}

/* Whether a text holds '"' or '\\' (which leaf.content_column escapes). */
static int needs_escape(Text t) {
    return t.p != NULL && (memchr(t.p, '"', (size_t)t.n) || memchr(t.p, '\\', (size_t)t.n));
}

#define NARROW (NVALUES - 1) /* every value but the source */

/* record_leaf_hashes for ingest's sealed columns, read from their Arrow buffers: no Python
   object per value. The columns are those of record_leaf_hashes but seq (first_seq on)
   and source (one str for every row); None (the caller's Arrow path seals) when a value
   the list version would decline is met, when text is not UTF-8, or when a reference,
   subject or correction holds '"' or '\\'. */
static PyObject *arrow_leaf_hashes(PyObject *self, PyObject *args) {
    long long first_seq, version;
    Py_ssize_t n;
    PyObject *specs, *source, *out = NULL;
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "LnO!Uy*L:arrow_leaf_hashes", &first_seq, &n, &PyTuple_Type,
                          &specs, &source, &key, &version))
        return NULL;
    ArrowColumn cols[NARROW];
    int opened = 0;
    Buf text = {NULL, 0, 0};
    Hmac h;
    hmac_start(&h, &key);
    Text src;
    int r = text_of(source, &src);
    if (r == FAIL) goto done;
    if (r == DECLINE || n < 0 || first_seq < 0 || (n > 0 && first_seq - 1 > LLONG_MAX - n)) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    if (PyTuple_GET_SIZE(specs) != NARROW) {
        PyErr_Format(PyExc_ValueError, "arrow_leaf_hashes: %d columns", NARROW);
        goto done;
    }
    if (n == 0) { /* an empty array may come without offsets */
        out = PyList_New(0);
        goto done;
    }
    for (; opened < NARROW; opened++)
        if (open_column(PyTuple_GET_ITEM(specs, opened), n, &cols[opened]) < 0) {
            release_column(&cols[opened]);
            goto done;
        }
    if ((out = PyList_New(n)) == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        Text v[NVALUES];
        unsigned char digest[32];
        r = OK;
        for (int c = 0, k = 0; c < NVALUES && r == OK; c++) {
            if (c == SOURCE) {
                v[c] = src;
                continue;
            }
            r = arrow_value(&cols[k++], i, &v[c]);
            if (r == OK && c != SALT && v[c].p != NULL &&
                !utf8_ok((const unsigned char *)v[c].p, v[c].n))
                r = DECLINE;
        }
        if (r == OK && (needs_escape(v[REFERENCE]) || needs_escape(v[SUBJECT]) ||
                        needs_escape(v[CORRECTS])))
            r = DECLINE;
        if (r == OK) r = record_leaf_hash(&text, &h, first_seq + i, v, version, digest);
        if (stored(&out, i, r, digest) < 0) goto done;
    }
done:
    for (int c = 0; c < opened; c++) release_column(&cols[c]);
    PyMem_Free(text.p);
    PyBuffer_Release(&key);
    return out;
}

static PyObject *perfect_levels(PyObject *self, PyObject *hashes) {
    PyObject *levels = PyList_New(0), *level = PySequence_List(hashes);
    unsigned char *node = NULL;
    size_t cap = 0;
    if (levels == NULL || level == NULL || PyList_Append(levels, level) < 0) goto fail;
    while (PyList_GET_SIZE(level) > 1) {
        Py_ssize_t n = PyList_GET_SIZE(level) / 2;
        PyObject *up = PyList_New(n);
        if (up == NULL) goto fail;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *a = PyList_GET_ITEM(level, 2 * i), *b = PyList_GET_ITEM(level, 2 * i + 1);
            if (!PyBytes_CheckExact(a) || !PyBytes_CheckExact(b)) { /* the caller's Python */
                Py_DECREF(up);
                Py_DECREF(level);
                Py_DECREF(levels);
                PyMem_Free(node);
                Py_RETURN_NONE;
            }
            size_t la = (size_t)PyBytes_GET_SIZE(a), lb = (size_t)PyBytes_GET_SIZE(b);
            if (1 + la + lb > cap) {
                cap = 1 + la + lb;
                unsigned char *p = PyMem_Realloc(node, cap);
                if (p == NULL) {
                    PyErr_NoMemory();
                    Py_DECREF(up);
                    goto fail;
                }
                node = p;
            }
            unsigned char digest[32];
            node[0] = 1;
            memcpy(node + 1, PyBytes_AS_STRING(a), la);
            memcpy(node + 1 + la, PyBytes_AS_STRING(b), lb);
            sha256(node, 1 + la + lb, digest);
            PyObject *hash = PyBytes_FromStringAndSize((const char *)digest, 32);
            if (hash == NULL) {
                Py_DECREF(up);
                goto fail;
            }
            PyList_SET_ITEM(up, i, hash);
        }
        Py_DECREF(level);
        level = up;
        if (PyList_Append(levels, level) < 0) goto fail;
    }
    Py_DECREF(level);
    PyMem_Free(node);
    return levels;
fail:
    Py_XDECREF(level);
    Py_XDECREF(levels);
    PyMem_Free(node);
    return NULL;
}

/* One (height, root) pair of a cover, as a new tuple appended to `list`. */
static int append_subtree(PyObject *list, long height, const unsigned char *root) {
    PyObject *pair = Py_BuildValue("(ly#)", height, (const char *)root, (Py_ssize_t)32);
    if (pair == NULL) return -1;
    int r = PyList_Append(list, pair);
    Py_DECREF(pair);
    return r;
}

/* sealing.subtrees: the perfect aligned subtrees covering leaves [start, start + n), left to
   right, as (height, root). The leaves are copied into one buffer and each level is hashed
   into its front (node i reads nodes 2i and 2i + 1 of the level below, at or after i), so no
   interior node becomes a Python object unless it is in the cover. None when `start` is not
   an int in [0, 2**63) or a leaf hash is not 32 bytes: the caller's Python then decides. */
static PyObject *subtrees(PyObject *self, PyObject *args) {
    PyObject *start, *hashes, *fast = NULL, *left = NULL, *right = NULL, *out = NULL;
    unsigned char *nodes = NULL;
    if (!PyArg_ParseTuple(args, "OO:subtrees", &start, &hashes)) return NULL;
    if (!PyLong_CheckExact(start)) Py_RETURN_NONE;
    int overflow;
    long long first = PyLong_AsLongLongAndOverflow(start, &overflow);
    if (first == -1 && PyErr_Occurred()) return NULL;
    if (overflow || first < 0) Py_RETURN_NONE;
    if ((fast = PySequence_Fast(hashes, "subtrees: leaf hashes")) == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if ((nodes = PyMem_Malloc((size_t)(n ? n : 1) * 32)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyBytes_CheckExact(h) || PyBytes_GET_SIZE(h) != 32) {
            out = Py_NewRef(Py_None);
            goto done;
        }
        memcpy(nodes + 32 * i, PyBytes_AS_STRING(h), 32);
    }
    if ((left = PyList_New(0)) == NULL || (right = PyList_New(0)) == NULL) goto done;
    unsigned long long lo = (unsigned long long)first;
    const unsigned char *level = nodes;
    for (long height = 0; n > 0; height++) {
        if (lo & 1) { /* no partner on the left inside the range: a subtree of the cover */
            if (append_subtree(left, height, level) < 0) goto done;
            level += 32;
            n--;
            lo++;
        }
        if (n & 1) { /* none on the right either */
            if (append_subtree(right, height, level + 32 * (n - 1)) < 0) goto done;
            n--;
        }
        unsigned char pair[65], digest[32];
        pair[0] = 1;
        for (Py_ssize_t i = 0; i < n / 2; i++) {
            memcpy(pair + 1, level + 64 * i, 64);
            sha256(pair, 65, digest);
            memcpy(nodes + 32 * i, digest, 32);
        }
        level = nodes;
        n /= 2;
        lo >>= 1;
    }
    if (PyList_Reverse(right) < 0) goto done;
    out = PySequence_Concat(left, right);
done:
    Py_XDECREF(fast);
    Py_XDECREF(left);
    Py_XDECREF(right);
    PyMem_Free(nodes);
    return out;
}

static PyObject *digest(PyObject *self, PyObject *arg) {
    Py_buffer data;
    unsigned char out[32];
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    sha256(data.buf, (size_t)data.len, out);
    PyBuffer_Release(&data);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

static PyMethodDef methods[] = {
    {"record_leaf_hashes", record_leaf_hashes, METH_VARARGS,
     "record_leaf_hashes(seq, salt, attributes, corrects, decided, item, occurred, reference,"
     " source, subject, key, version) -> list[bytes] | None"},
    {"arrow_leaf_hashes", arrow_leaf_hashes, METH_VARARGS,
     "arrow_leaf_hashes(first_seq, n, columns, source, key, version) -> list[bytes] | None"},
    {"perfect_levels", perfect_levels, METH_O,
     "perfect_levels(hashes) -> list[list[bytes]] | None"},
    {"subtrees", subtrees, METH_VARARGS,
     "subtrees(start, leaf_hashes) -> list[tuple[int, bytes]] | None"},
    {"sha256", digest, METH_O, "sha256(data) -> bytes: the SHA-256 this module uses"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_leafhash", NULL, -1, methods};

/* OpenSSL's SHA-256 calls, from the libcrypto already loaded (by hashlib) or on disk. */
static int find_sha256(void) {
#ifdef _WIN32
    return -1;
#else
    static const char *names[] = {"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.3.dylib",
                                  "libcrypto.1.1.dylib", "libcrypto.so", "libcrypto.dylib"};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | (pass == 0 ? RTLD_NOLOAD : 0));
            if (lib == NULL) continue;
            sha256_init = (init_fn)dlsym(lib, "SHA256_Init");
            sha256_update = (update_fn)dlsym(lib, "SHA256_Update");
            sha256_final = (final_fn)dlsym(lib, "SHA256_Final");
            if (sha256_init != NULL && sha256_update != NULL && sha256_final != NULL) return 0;
            dlclose(lib);
        }
    }
    return -1;
#endif
}

PyMODINIT_FUNC PyInit__leafhash(void) {
    /* hashlib first: its libcrypto is then the one found (RTLD_NOLOAD) */
    PyObject *hashlib = PyImport_ImportModule("hashlib");
    if (hashlib == NULL) return NULL;
    Py_DECREF(hashlib);
    static const unsigned char abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char check[32];
    if (find_sha256() < 0) {
        PyErr_SetString(PyExc_ImportError, "_leafhash: no SHA256_Init in libcrypto");
        return NULL;
    }
    sha256("abc", 3, check);
    if (memcmp(check, abc, 32) != 0) {
        PyErr_SetString(PyExc_ImportError, "_leafhash: no usable SHA256() in libcrypto");
        return NULL;
    }
    return PyModule_Create(&module);
}
