/* The batch engine's JSON lines, written from a bucket group's per-subject Arrow columns
   (credence/engines/batch_json.py, `JsonLines.prepare_lines`).

   write(sink_write, n, pieces, rows) -> None
       All n lines (one a row: a subject), `rows` lines at a time, each run passed to
       `sink_write` as a memoryview of this module's buffer (released once the call returns).
       pieces: what each line is made of, in order; each a tuple:
         ("L", text)                      bytes written as they are;
         ("Q", col)                       a string column written as a JSON string: the text
                                          between quotes (a text needing an escape, or a
                                          null, is refused with ValueError; the caller checks
                                          first and builds such lines in SQL);
         ("S", col, if_null)              a string column written as it is (JSON text made by
                                          DuckDB or the caller), `if_null` for a null;
         ("I", col, if_null)              an int64 column in decimal, `if_null` for a null;
         ("T", col, entries)              an int32 column of indices into `entries` (a tuple
                                          of bytes or None: None writes nothing);
         ("J", separator, parts)          "S"/"T" parts joined by `separator`, a null (or a
                                          None entry) skipped: SQL's concat_ws;
         ("R", col, spec)                 a list<int64> column of packed reasons, each written
                                          as {"seq":..,"item":..,"date":"..","points":..}
                                          joined by ','; a null list writes nothing;
                                          spec = (shift_seq, mask_seq, shift_day, mask_day,
                                          epoch_day, shift_item, mask_item, shift_points,
                                          points_base, items) as `FusedProgram.reason_json`
                                          decodes them in SQL (items: each item's JSON text).
       A column is (offset, validity, buffer, ...) as credence/arrowbuffers.py gives it:
       string (offset, validity, offsets, data); int64/int32 (offset, validity, values);
       list (offset, validity, list offsets, child offset, child values).

   plain(n, col) -> bool
       Whether a string column of n rows has no null and no text needing a JSON escape.

   sort_order(n, col) -> bytes
       The row numbers (int64, native order) of a string column of n rows without nulls (the
       (offset, validity, offsets, data) of credence/arrowbuffers.py) in byte order of
       their texts, ties in row order: what Arrow's stable `sort_indices` gives. A most
       significant byte first radix sort (rows bucketed by one byte, then each bucket by
       the next), since subjects' keys share long prefixes ("ric:1101..."), which cost a
       comparison sort one full compare a step: a third of the lines' sorting and taking.

   Why C: DuckDB built each line by string concatenation, joined the outcomes and sorted
   the lines by subject: 3.5 s of CPU of a 12 s run over 20M records, more than scanning
   every column of the snapshot. Here each byte is written once, a few thousand lines at a
   time into one buffer kept between calls, so it stays in the cache and is never paged in
   anew.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../ledger/buf.h"

#define MAX_PIECES 64
#define MAX_BUFFERS 256

typedef struct {
    Py_ssize_t off, len; /* array offset; bytes in `data` (string) or values (else) */
    const uint8_t *valid;
    const int32_t *offs; /* string offsets, or list offsets */
    const char *data;    /* string bytes */
    const int64_t *i64;  /* int64 values, or a list's child values */
    const int32_t *i32;  /* int32 values */
    Py_ssize_t child_off, child_len;
} Col;

typedef struct {
    const char *p;
    Py_ssize_t n;
    int present;
} Entry;

typedef struct Piece {
    char kind;
    const char *text; /* L: the bytes; S/I: if_null; J: separator */
    Py_ssize_t text_n;
    Col col;
    Entry *entries; /* T */
    Py_ssize_t n_entries;
    struct Piece *parts; /* J */
    Py_ssize_t n_parts;
    /* R */
    int64_t shift_seq, mask_seq, shift_day, mask_day, epoch_day, shift_item, mask_item,
        shift_points, points_base;
} Piece;

typedef struct {
    Py_buffer bufs[MAX_BUFFERS];
    int n_bufs;
    Piece pieces[MAX_PIECES];
    Piece parts[MAX_PIECES];
    int n_pieces, n_parts;
    void *allocs[MAX_PIECES * 2];
    int n_allocs;
} State;

static void release(State *s) {
    for (int i = 0; i < s->n_bufs; i++) PyBuffer_Release(&s->bufs[i]);
    for (int i = 0; i < s->n_allocs; i++) PyMem_Free(s->allocs[i]);
}

/* A buffer object's bytes (None: NULL, 0 bytes); -1 on error. */
static int get_buf(State *s, PyObject *obj, const void **p, Py_ssize_t *len) {
    if (obj == Py_None) {
        *p = NULL;
        *len = 0;
        return 0;
    }
    if (s->n_bufs >= MAX_BUFFERS) {
        PyErr_SetString(PyExc_ValueError, "build: too many buffers");
        return -1;
    }
    Py_buffer *b = &s->bufs[s->n_bufs];
    if (PyObject_GetBuffer(obj, b, PyBUF_SIMPLE) < 0) return -1;
    s->n_bufs++;
    *p = b->buf;
    *len = b->len;
    return 0;
}

static int validity_ok(const void *valid, Py_ssize_t vlen, Py_ssize_t off, Py_ssize_t n) {
    return valid == NULL || vlen * 8 >= off + n;
}

/* kind 's' string, 'l' int64, 'i' int32, 'r' list of int64. */
static int parse_col(State *s, PyObject *spec, char kind, Py_ssize_t n, Col *c) {
    memset(c, 0, sizeof *c);
    PyObject *vo, *bo, *do_ = NULL, *co = NULL;
    const void *vp, *bp, *dp;
    Py_ssize_t vlen, blen, dlen;
    int ok;
    if (kind == 's')
        ok = PyArg_ParseTuple(spec, "nOOO:string column", &c->off, &vo, &bo, &do_);
    else if (kind == 'r')
        ok = PyArg_ParseTuple(spec, "nOOnO:list column", &c->off, &vo, &bo, &c->child_off, &co);
    else
        ok = PyArg_ParseTuple(spec, "nOO:int column", &c->off, &vo, &bo);
    if (!ok) return -1;
    if (c->off < 0 || c->child_off < 0) {
        PyErr_SetString(PyExc_ValueError, "build: negative offset");
        return -1;
    }
    if (get_buf(s, vo, &vp, &vlen) < 0 || get_buf(s, bo, &bp, &blen) < 0) return -1;
    if (!validity_ok(vp, vlen, c->off, n)) {
        PyErr_SetString(PyExc_ValueError, "build: validity buffer too short");
        return -1;
    }
    c->valid = vp;
    if (kind == 's' || kind == 'r') {
        if (bp == NULL || blen < (c->off + n + 1) * 4) {
            PyErr_SetString(PyExc_ValueError, "build: offsets buffer too short");
            return -1;
        }
        c->offs = bp;
        if (get_buf(s, kind == 's' ? do_ : co, &dp, &dlen) < 0) return -1;
        if (kind == 's') {
            c->data = dp;
            c->len = dlen;
        } else {
            c->i64 = dp;
            c->child_len = dlen / 8;
        }
    } else {
        Py_ssize_t width = kind == 'l' ? 8 : 4;
        if (bp == NULL || blen < (c->off + n) * width) {
            PyErr_SetString(PyExc_ValueError, "build: values buffer too short");
            return -1;
        }
        if (kind == 'l')
            c->i64 = bp;
        else
            c->i32 = bp;
    }
    return 0;
}

static inline int is_valid(const Col *c, Py_ssize_t row) {
    Py_ssize_t at = c->off + row;
    return c->valid == NULL || (c->valid[at >> 3] >> (at & 7)) & 1;
}

static int parse_bytes(PyObject *obj, const char **p, Py_ssize_t *n) {
    if (!PyBytes_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "build: texts must be bytes");
        return -1;
    }
    *p = PyBytes_AS_STRING(obj);
    *n = PyBytes_GET_SIZE(obj);
    return 0;
}

static int parse_entries(State *s, PyObject *tuple, Piece *pc) {
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "build: entries must be a tuple");
        return -1;
    }
    Py_ssize_t m = PyTuple_GET_SIZE(tuple);
    Entry *e = PyMem_Calloc((size_t)(m ? m : 1), sizeof(Entry));
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->allocs[s->n_allocs++] = e;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (item == Py_None) continue;
        if (parse_bytes(item, &e[i].p, &e[i].n) < 0) return -1;
        e[i].present = 1;
    }
    pc->entries = e;
    pc->n_entries = m;
    return 0;
}

static int parse_piece(State *s, PyObject *spec, Py_ssize_t n, Piece *pc, int nested);

static int parse_join(State *s, PyObject *spec, Py_ssize_t n, Piece *pc) {
    PyObject *sep, *parts;
    if (!PyArg_ParseTuple(spec, "sSO!:join", &(const char *){NULL}, &sep, &PyTuple_Type, &parts))
        return -1;
    if (parse_bytes(sep, &pc->text, &pc->text_n) < 0) return -1;
    Py_ssize_t m = PyTuple_GET_SIZE(parts);
    if (s->n_parts + m > MAX_PIECES) {
        PyErr_SetString(PyExc_ValueError, "build: too many joined parts");
        return -1;
    }
    pc->parts = &s->parts[s->n_parts];
    pc->n_parts = m;
    s->n_parts += (int)m;
    for (Py_ssize_t i = 0; i < m; i++)
        if (parse_piece(s, PyTuple_GET_ITEM(parts, i), n, &pc->parts[i], 1) < 0) return -1;
    return 0;
}

static int parse_reasons(State *s, PyObject *spec, Py_ssize_t n, Piece *pc) {
    PyObject *col, *params, *items;
    if (!PyArg_ParseTuple(spec, "sOO!:reasons", &(const char *){NULL}, &col, &PyTuple_Type,
                          &params))
        return -1;
    if (parse_col(s, col, 'r', n, &pc->col) < 0) return -1;
    if (!PyArg_ParseTuple(params, "LLLLLLLLLO!:reason spec", &pc->shift_seq, &pc->mask_seq,
                          &pc->shift_day, &pc->mask_day, &pc->epoch_day, &pc->shift_item,
                          &pc->mask_item, &pc->shift_points, &pc->points_base, &PyTuple_Type,
                          &items))
        return -1;
    int64_t shifts[] = {pc->shift_seq, pc->shift_day, pc->shift_item, pc->shift_points};
    for (int i = 0; i < 4; i++)
        if (shifts[i] < 0 || shifts[i] > 62) {
            PyErr_SetString(PyExc_ValueError, "build: a reason shift out of range");
            return -1;
        }
    return parse_entries(s, items, pc);
}

static int parse_piece(State *s, PyObject *spec, Py_ssize_t n, Piece *pc, int nested) {
    memset(pc, 0, sizeof *pc);
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(spec, 0))) {
        PyErr_SetString(PyExc_TypeError, "build: a piece is (kind, ...)");
        return -1;
    }
    const char *kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(spec, 0));
    if (kind == NULL) return -1;
    pc->kind = kind[0];
    if (kind[0] == '\0' || kind[1] != '\0' || (nested && pc->kind != 'S' && pc->kind != 'T')) {
        PyErr_Format(PyExc_ValueError, "build: unknown piece %R", PyTuple_GET_ITEM(spec, 0));
        return -1;
    }
    PyObject *col = NULL, *other = NULL;
    switch (pc->kind) {
        case 'L':
            if (!PyArg_ParseTuple(spec, "sS:literal", &(const char *){NULL}, &other)) return -1;
            return parse_bytes(other, &pc->text, &pc->text_n);
        case 'Q':
            if (!PyArg_ParseTuple(spec, "sO:quoted", &(const char *){NULL}, &col)) return -1;
            return parse_col(s, col, 's', n, &pc->col);
        case 'S':
        case 'I':
            if (!PyArg_ParseTuple(spec, "sOS:column", &(const char *){NULL}, &col, &other))
                return -1;
            if (parse_col(s, col, pc->kind == 'S' ? 's' : 'l', n, &pc->col) < 0) return -1;
            return parse_bytes(other, &pc->text, &pc->text_n);
        case 'T':
            if (!PyArg_ParseTuple(spec, "sOO:take", &(const char *){NULL}, &col, &other))
                return -1;
            if (parse_col(s, col, 'i', n, &pc->col) < 0) return -1;
            return parse_entries(s, other, pc);
        case 'J':
            return parse_join(s, spec, n, pc);
        case 'R':
            return parse_reasons(s, spec, n, pc);
        default:
            PyErr_Format(PyExc_ValueError, "build: unknown piece %R", PyTuple_GET_ITEM(spec, 0));
            return -1;
    }
}

/* --- writing --------------------------------------------------------------------------- */

static inline int put_int(Buf *b, int64_t v) {
    char tmp[24];
    int i = 24;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--i] = '-';
    return put(b, tmp + i, 24 - i);
}

/* A string value's bytes; 0 if null; -1 (error set) if its offsets are out of bounds. */
static int str_at(const Col *c, Py_ssize_t row, const char **p, Py_ssize_t *n) {
    if (!is_valid(c, row)) return 0;
    int32_t a = c->offs[c->off + row], z = c->offs[c->off + row + 1];
    if (a < 0 || z < a || z > c->len) {
        PyErr_SetString(PyExc_ValueError, "build: string offsets out of bounds");
        return -1;
    }
    *p = c->data + a;
    *n = z - a;
    return 1;
}

/* The entry an index column picks; NULL for a null index or a None entry. */
static int entry_at(const Piece *pc, Py_ssize_t row, const Entry **e) {
    *e = NULL;
    if (!is_valid(&pc->col, row)) return 0;
    int32_t k = pc->col.i32[pc->col.off + row];
    if (k < 0 || k >= pc->n_entries) {
        PyErr_SetString(PyExc_ValueError, "build: an index out of its entries");
        return -1;
    }
    if (pc->entries[k].present) *e = &pc->entries[k];
    return 0;
}

/* Whether a text needs a JSON escape to go between quotes: a control, quote or backslash. */
static int needs_escape(const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == '"' || ch == '\\') return 1;
    }
    return 0;
}

static int put_quoted(Buf *b, const Col *c, Py_ssize_t row) {
    const char *p;
    Py_ssize_t n;
    int got = str_at(c, row, &p, &n);
    if (got < 0) return -1;
    if (got == 0) {
        PyErr_SetString(PyExc_ValueError, "build: a null JSON string");
        return -1;
    }
    if (needs_escape(p, n)) {
        PyErr_SetString(PyExc_ValueError, "build: a text that needs a JSON escape");
        return -1;
    }
    if (reserve(b, n + 2) < 0) return -1;
    b->p[b->n++] = '"';
    memcpy(b->p + b->n, p, (size_t)n);
    b->n += n;
    b->p[b->n++] = '"';
    return 0;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil, inverted). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int put_reason(Buf *b, const Piece *pc, int64_t k) {
    int64_t seq = (k >> pc->shift_seq) & pc->mask_seq;
    int64_t item = (k >> pc->shift_item) & pc->mask_item;
    int64_t day = (k >> pc->shift_day) & pc->mask_day;
    int64_t magnitude = pc->points_base - (k >> pc->shift_points);
    if (item >= pc->n_entries || !pc->entries[item].present) {
        PyErr_SetString(PyExc_ValueError, "build: a reason's item out of the rulebook's");
        return -1;
    }
    int64_t y;
    unsigned m, d;
    civil(pc->epoch_day + day, &y, &m, &d);
    if (y < 0 || y > 9999) {
        PyErr_SetString(PyExc_ValueError, "build: a reason's date out of range");
        return -1;
    }
    char date[10] = {(char)('0' + y / 1000), (char)('0' + y / 100 % 10), (char)('0' + y / 10 % 10),
                     (char)('0' + y % 10),    '-',
                     (char)('0' + m / 10),    (char)('0' + m % 10),
                     '-',                     (char)('0' + d / 10),
                     (char)('0' + d % 10)};
    const Entry *e = &pc->entries[item];
    if (put(b, "{\"seq\":", 7) < 0 || put_int(b, seq) < 0 || put(b, ",\"item\":", 8) < 0 ||
        put(b, e->p, e->n) < 0 || put(b, ",\"date\":\"", 9) < 0 || put(b, date, 10) < 0 ||
        put(b, "\",\"points\":", 11) < 0 || put_int(b, (k & 1) ? -magnitude : magnitude) < 0 ||
        put(b, "}", 1) < 0)
        return -1;
    return 0;
}

static int put_reasons(Buf *b, const Piece *pc, Py_ssize_t row) {
    const Col *c = &pc->col;
    if (!is_valid(c, row)) return 0;
    int32_t a = c->offs[c->off + row], z = c->offs[c->off + row + 1];
    if (a < 0 || z < a || c->child_off + z > c->child_len) {
        PyErr_SetString(PyExc_ValueError, "build: list offsets out of bounds");
        return -1;
    }
    for (int32_t i = a; i < z; i++) {
        if (i > a && put(b, ",", 1) < 0) return -1;
        if (put_reason(b, pc, c->i64[c->child_off + i]) < 0) return -1;
    }
    return 0;
}

/* A part of a join: 1 and its bytes if present, 0 if skipped, -1 on error. */
static int part_at(const Piece *pc, Py_ssize_t row, const char **p, Py_ssize_t *n) {
    if (pc->kind == 'S') return str_at(&pc->col, row, p, n);
    const Entry *e;
    if (entry_at(pc, row, &e) < 0) return -1;
    if (e == NULL) return 0;
    *p = e->p;
    *n = e->n;
    return 1;
}

static int put_piece(Buf *b, const Piece *pc, Py_ssize_t row) {
    const char *p;
    Py_ssize_t n;
    int got;
    switch (pc->kind) {
        case 'L':
            return put(b, pc->text, pc->text_n);
        case 'Q':
            return put_quoted(b, &pc->col, row);
        case 'S':
            got = str_at(&pc->col, row, &p, &n);
            if (got < 0) return -1;
            return got ? put(b, p, n) : put(b, pc->text, pc->text_n);
        case 'I':
            if (!is_valid(&pc->col, row)) return put(b, pc->text, pc->text_n);
            return put_int(b, pc->col.i64[pc->col.off + row]);
        case 'T': {
            const Entry *e;
            if (entry_at(pc, row, &e) < 0) return -1;
            return e ? put(b, e->p, e->n) : 0;
        }
        case 'J': {
            int first = 1;
            for (Py_ssize_t i = 0; i < pc->n_parts; i++) {
                got = part_at(&pc->parts[i], row, &p, &n);
                if (got < 0) return -1;
                if (!got) continue;
                if (!first && put(b, pc->text, pc->text_n) < 0) return -1;
                if (put(b, p, n) < 0) return -1;
                first = 0;
            }
            return 0;
        }
        case 'R':
            return put_reasons(b, pc, row);
    }
    return 0;
}

/* The output buffer, kept from one call to the next (the GIL serialises calls): a fresh
   one a call cost more in page faults than writing the lines. */
static Buf shared;
#define SHARED_KEEP (16 * 1024 * 1024)

/* Parse `pieces` for n rows into a new State; NULL with an exception set. */
static State *prepare(Py_ssize_t n, PyObject *pieces_obj) {
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "build: rows out of range");
        return NULL;
    }
    State *s = PyMem_Calloc(1, sizeof(State));
    if (s == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t m = PyTuple_GET_SIZE(pieces_obj);
    if (m > MAX_PIECES) {
        PyErr_SetString(PyExc_ValueError, "build: too many pieces");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        if (parse_piece(s, PyTuple_GET_ITEM(pieces_obj, i), n, &s->pieces[i], 0) < 0) goto fail;
        s->n_pieces++;
    }
    return s;
fail:
    release(s);
    PyMem_Free(s);
    return NULL;
}

static void finish(State *s) {
    if (shared.cap > SHARED_KEEP) { /* a run of very long lines: do not keep its memory */
        PyMem_Free(shared.p);
        shared.p = NULL;
        shared.cap = 0;
    }
    shared.n = 0;
    release(s);
    PyMem_Free(s);
}

/* Rows start..stop-1 into `shared` (emptied first); -1 with an exception set.
   The GIL stays held: the buffer grows with PyMem and errors are Python's. */
static int fill(State *s, Py_ssize_t start, Py_ssize_t stop) {
    shared.n = 0;
    for (Py_ssize_t row = start; row < stop; row++)
        for (int j = 0; j < s->n_pieces; j++)
            if (put_piece(&shared, &s->pieces[j], row) < 0) return -1;
    return 0;
}

/* write(sink_write, n, pieces, rows): every line, `rows` at a time, each run passed to
   `sink_write` as a memoryview of the writer's own buffer, released when the call returns
   (no copy into a bytes object a run: a sink that keeps the view gets a released one). */
static PyObject *write_lines(PyObject *self, PyObject *args) {
    Py_ssize_t n, rows;
    PyObject *sink, *pieces_obj;
    if (!PyArg_ParseTuple(args, "OnO!n:write", &sink, &n, &PyTuple_Type, &pieces_obj, &rows))
        return NULL;
    if (!PyCallable_Check(sink) || rows < 1) {
        PyErr_SetString(PyExc_ValueError, "write: a callable sink and rows >= 1");
        return NULL;
    }
    State *s = prepare(n, pieces_obj);
    if (s == NULL) return NULL;
    int failed = 0;
    for (Py_ssize_t start = 0; start < n && !failed; start += rows) {
        Py_ssize_t stop = start + rows < n ? start + rows : n;
        if (fill(s, start, stop) < 0) {
            failed = 1;
            break;
        }
        PyObject *view = PyMemoryView_FromMemory(shared.p ? shared.p : (char *)"", shared.n,
                                                 PyBUF_READ);
        if (view == NULL) {
            failed = 1;
            break;
        }
        PyObject *done = PyObject_CallOneArg(sink, view);
        PyObject *type, *value, *trace; /* the sink's error, kept while the view is released */
        PyErr_Fetch(&type, &value, &trace);
        PyObject *gone = PyObject_CallMethod(view, "release", NULL);
        Py_DECREF(view);
        if (done == NULL) {
            Py_XDECREF(gone);
            PyErr_Restore(type, value, trace);
            failed = 1;
            break;
        }
        Py_DECREF(done);
        if (gone == NULL) failed = 1;
        Py_XDECREF(gone);
    }
    finish(s);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* The arguments (n, col) of `plain` and `sort_order`: a new State holding the string
   column's buffers (free it with `release` and PyMem_Free), or NULL with an exception set. */
static State *string_arg(PyObject *args, const char *format, Py_ssize_t *n, Col *c) {
    PyObject *spec;
    if (!PyArg_ParseTuple(args, format, n, &PyTuple_Type, &spec)) return NULL;
    if (*n < 0) {
        PyErr_SetString(PyExc_ValueError, "rows out of range");
        return NULL;
    }
    State *s = PyMem_Calloc(1, sizeof(State));
    if (s == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (parse_col(s, spec, 's', *n, c) < 0) {
        release(s);
        PyMem_Free(s);
        return NULL;
    }
    return s;
}

/* plain(n, col) -> bool: whether every text of a string column of n rows is there (no
   null) and can be written between quotes as it is (`needs_escape`), as a "Q" piece needs;
   a regular expression over Arrow cost five times as much. */
static PyObject *plain(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    Col c;
    State *s = string_arg(args, "nO!:plain", &n, &c);
    if (s == NULL) return NULL;
    PyObject *out = NULL;
    int ok = 1;
    for (Py_ssize_t r = 0; r < n && ok; r++) {
        const char *p;
        Py_ssize_t len;
        int got = str_at(&c, r, &p, &len);
        if (got < 0) goto done;
        ok = got == 1 && !needs_escape(p, len);
    }
    out = PyBool_FromLong(ok);
done:
    release(s);
    PyMem_Free(s);
    return out;
}

/* --- sort_order ------------------------------------------------------------------------ */

typedef struct {
    const int32_t *offs; /* offsets of the column's rows (already shifted by its offset) */
    const unsigned char *data;
    int64_t *tmp;
} Keys;

/* Row r's byte at depth d, plus one; 0 past its end (shorter texts first). */
static inline int byte_at(const Keys *k, int64_t r, Py_ssize_t d) {
    int32_t a = k->offs[r], len = k->offs[r + 1] - a;
    return d < len ? (int)k->data[a + d] + 1 : 0;
}

/* Rows' texts compared from depth d on: <0, 0, >0. */
static int compare_from(const Keys *k, int64_t x, int64_t y, Py_ssize_t d) {
    int32_t ax = k->offs[x] + (int32_t)d, lx = k->offs[x + 1] - ax;
    int32_t ay = k->offs[y] + (int32_t)d, ly = k->offs[y + 1] - ay;
    int32_t m = lx < ly ? lx : ly;
    int c = m > 0 ? memcmp(k->data + ax, k->data + ay, (size_t)m) : 0;
    return c ? c : (lx > ly) - (lx < ly);
}

/* Stable insertion sort of a few rows, equal up to depth d. */
static void insertion(const Keys *k, int64_t *rows, Py_ssize_t n, Py_ssize_t d) {
    for (Py_ssize_t i = 1; i < n; i++) {
        int64_t r = rows[i];
        Py_ssize_t j = i;
        while (j > 0 && compare_from(k, rows[j - 1], r, d) > 0) {
            rows[j] = rows[j - 1];
            j--;
        }
        rows[j] = r;
    }
}

/* Stable merge sort (rows equal up to depth d), for the deep buckets: no recursion a byte. */
static void merge_sort(const Keys *k, int64_t *rows, int64_t *tmp, Py_ssize_t n, Py_ssize_t d) {
    if (n <= 32) {
        insertion(k, rows, n, d);
        return;
    }
    Py_ssize_t h = n / 2;
    merge_sort(k, rows, tmp, h, d);
    merge_sort(k, rows + h, tmp, n - h, d);
    Py_ssize_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = compare_from(k, rows[j], rows[i], d) < 0 ? rows[j++] : rows[i++];
    while (i < h) tmp[o++] = rows[i++];
    while (j < n) tmp[o++] = rows[j++];
    memcpy(rows, tmp, (size_t)n * sizeof *rows);
}

#define RADIX_DEEPEST 64 /* beyond this many bytes of common prefix, compare instead */

/* Stable MSD radix sort of rows[0..n), all equal up to depth d. */
static void radix(const Keys *k, int64_t *rows, Py_ssize_t n, Py_ssize_t d) {
    Py_ssize_t count[258];
    while (n > 32 && d < RADIX_DEEPEST) {
        memset(count, 0, sizeof count);
        for (Py_ssize_t i = 0; i < n; i++) count[byte_at(k, rows[i], d) + 1]++;
        if (count[0 + 1] == n) return;        /* every text ends here: equal, in row order */
        Py_ssize_t only = -1;
        for (int b = 0; b < 257; b++)
            if (count[b + 1] == n) only = b;
        if (only > 0) { /* one byte for all: the next depth, nothing moved */
            d++;
            continue;
        }
        for (int b = 1; b < 258; b++) count[b] += count[b - 1]; /* count[b]: bucket b's start */
        for (Py_ssize_t i = 0; i < n; i++) k->tmp[count[byte_at(k, rows[i], d)]++] = rows[i];
        memcpy(rows, k->tmp, (size_t)n * sizeof *rows);
        /* count[b] is now bucket b's end; bucket 0 (ended texts) is already in order. */
        Py_ssize_t start = count[0];
        for (int b = 1; b < 257; b++) {
            Py_ssize_t end = count[b];
            if (end - start > 1) radix(k, rows + start, end - start, d + 1);
            start = end;
        }
        return;
    }
    if (n > 32)
        merge_sort(k, rows, k->tmp, n, d);
    else
        insertion(k, rows, n, d);
}

static PyObject *sort_order(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    Col c;
    State *s = string_arg(args, "nO!:sort_order", &n, &c);
    if (s == NULL) return NULL;
    PyObject *out = NULL;
    for (Py_ssize_t r = 0; r < n; r++) { /* every text there, inside the data buffer */
        const char *p;
        Py_ssize_t len;
        int got = str_at(&c, r, &p, &len);
        if (got < 0) goto done;
        if (got == 0) {
            PyErr_SetString(PyExc_ValueError, "sort_order: a null text");
            goto done;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) goto done;
    int64_t *rows = (int64_t *)PyBytes_AS_STRING(out);
    int64_t *tmp = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    if (tmp == NULL) {
        Py_CLEAR(out);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) rows[r] = r;
    Keys k = {c.offs + c.off, (const unsigned char *)c.data, tmp};
    Py_BEGIN_ALLOW_THREADS
    radix(&k, rows, n, 0);
    Py_END_ALLOW_THREADS
    PyMem_Free(tmp);
done:
    release(s);
    PyMem_Free(s);
    return out;
}

static PyMethodDef methods[] = {
    {"write", write_lines, METH_VARARGS, "JSON lines from Arrow columns, to a sink (see the source)."},
    {"sort_order", sort_order, METH_VARARGS, "Rows of a string column in byte order (see the source)."},
    {"plain", plain, METH_VARARGS, "Whether a string column needs no JSON escape (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linebuild", NULL, -1, methods};

PyMODINIT_FUNC PyInit__linebuild(void) { return PyModule_Create(&module); }
