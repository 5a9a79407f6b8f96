/* The attribute certifier's scan, compiled: one pass over each attribute text instead of
   several RE2 passes (credence/ingest/attrcheck.py).

   What it accepts is defined by attrcheck's patterns, which stay the reference and the
   fallback: object_pattern (a JSON object of one or more of the item's declared attributes,
   in any order, with any JSON whitespace; strings without escapes or control characters,
   integers below 10^15, decimals RFC 8785 writes as they stand, booleans, dates), each key
   at most once, and at most max_chars code points. The tests compare this scan with the
   patterns on generated and hand-written texts.

   scan(n, texts, names, types, max_chars) -> (ok, values, canonical)
       texts: (offset, validity, offsets, data) of an Arrow string array of n texts.
       names: the item's attribute names, sorted (the canonical key order); types: one
       letter a name: s string, i integer, n number, b boolean, d date.
       ok: n bytes, 1 where the text is such an object (a null text is not).
       values: per name, (validity, offsets, data) of an Arrow string array with a value
       per accepted text, in row order: the value's JSON text as written (with the quotes
       of a string or date), null where the key is absent.
       canonical: (offsets, data) of the accepted texts rewritten with their pairs in name
       order and no whitespace (what the scalar check's canonical JSON gives such values).

   Why C: RE2 through pyarrow.compute took about 1.4 us a row of the worker's 5 over the
   benchmark city (a match, a search for a repeated key and an extract a key, then joins
   for the canonical text), the largest piece of the ingest worker's CPU.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../ledger/buf.h"

#define MAX_NAMES 64

static int put_i32(Buf *b, Py_ssize_t v) {
    if (v > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "scan: more than 2 GiB of text");
        return -1;
    }
    int32_t x = (int32_t)v;
    return put(b, &x, 4);
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static const unsigned char *skip_ws(const unsigned char *s, const unsigned char *end) {
    while (s < end && is_ws(*s)) s++;
    return s;
}

/* The end of a value of `type` starting at s, or NULL when none starts there. */
static const unsigned char *value_end(char type, const unsigned char *s, const unsigned char *end) {
    switch (type) {
    case 's': { /* "[^"\\\x00-\x1f]+" */
        if (s >= end || *s != '"') return NULL;
        const unsigned char *q = s + 1;
        while (q < end && *q != '"' && *q != '\\' && *q >= 0x20) q++;
        if (q >= end || *q != '"' || q == s + 1) return NULL;
        return q + 1;
    }
    case 'd': { /* "[0-9]{4}-[0-9]{2}-[0-9]{2}" */
        static const char shape[] = "\"dddd-dd-dd\"";
        if (end - s < 12) return NULL;
        for (int k = 0; k < 12; k++)
            if (shape[k] == 'd' ? !is_digit(s[k]) : s[k] != (unsigned char)shape[k]) return NULL;
        return s + 12;
    }
    case 'b':
        if (end - s >= 4 && memcmp(s, "true", 4) == 0) return s + 4;
        if (end - s >= 5 && memcmp(s, "false", 5) == 0) return s + 5;
        return NULL;
    case 'i':
    case 'n': {
        /* The longest -?[0-9]*(\.[0-9]*)? here: the patterns need what follows a value to be
           whitespace, ',' or '}', so a match is always all of it. */
        const unsigned char *q = s, *digits, *point = NULL;
        int minus = q < end && *q == '-';
        q += minus;
        digits = q;
        while (q < end && is_digit(*q)) q++;
        Py_ssize_t whole = q - digits;
        if (type == 'n' && q < end && *q == '.') {
            point = q++;
            while (q < end && is_digit(*q)) q++;
        }
        if (whole == 0) return NULL;
        if (point == NULL) { /* 0|-?[1-9][0-9]{0,14} */
            if (digits[0] == '0') return (whole == 1 && !minus) ? q : NULL;
            return whole <= 15 ? q : NULL;
        }
        /* -?[1-9][0-9]{0,13}\.[0-9]{0,13}[1-9] */
        Py_ssize_t fraction = q - point - 1;
        if (digits[0] == '0' || whole > 14 || fraction < 1 || fraction > 14 || q[-1] == '0')
            return NULL;
        return q;
    }
    default:
        return NULL;
    }
}

typedef struct {
    const char *name;
    Py_ssize_t len;
    char type;
} Attr;

/* Scan one text: 1 and the span of each present attribute, or 0. */
static int scan_text(const unsigned char *s, const unsigned char *end, const Attr *attrs,
                     int count, const unsigned char **start, const unsigned char **stop) {
    for (int k = 0; k < count; k++) start[k] = NULL;
    s = skip_ws(s, end);
    if (s >= end || *s != '{') return 0;
    s = skip_ws(s + 1, end);
    for (;;) {
        if (s >= end || *s != '"') return 0;
        const unsigned char *key = ++s;
        while (s < end && *s != '"') s++;
        if (s >= end) return 0;
        Py_ssize_t len = s - key;
        int found = -1;
        for (int k = 0; k < count; k++)
            if (attrs[k].len == len && memcmp(attrs[k].name, key, (size_t)len) == 0) {
                found = k;
                break;
            }
        if (found < 0 || start[found] != NULL) return 0; /* undeclared, or a key twice */
        s = skip_ws(s + 1, end);
        if (s >= end || *s != ':') return 0;
        s = skip_ws(s + 1, end);
        const unsigned char *after = value_end(attrs[found].type, s, end);
        if (after == NULL) return 0;
        start[found] = s;
        stop[found] = after;
        s = skip_ws(after, end);
        if (s < end && *s == ',') {
            s = skip_ws(s + 1, end);
            continue;
        }
        if (s < end && *s == '}') break;
        return 0;
    }
    return skip_ws(s + 1, end) == end;
}

static Py_ssize_t code_points(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) count += (s[i] & 0xc0) != 0x80;
    return count;
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->p ? b->p : "", b->n); }

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t n, offset, max_chars;
    PyObject *validity_obj, *offsets_obj, *data_obj, *names;
    const char *types;
    Py_ssize_t ntypes;
    if (!PyArg_ParseTuple(args, "n(nOOO)O!s#n:scan", &n, &offset, &validity_obj, &offsets_obj,
                          &data_obj, &PyTuple_Type, &names, &types, &ntypes, &max_chars))
        return NULL;
    int count = (int)PyTuple_GET_SIZE(names);
    if (count < 1 || count > MAX_NAMES || ntypes != count || n < 0 || offset < 0) {
        PyErr_SetString(PyExc_ValueError, "scan: 1 to 64 names, one type each, n >= 0");
        return NULL;
    }
    Attr attrs[MAX_NAMES];
    for (int k = 0; k < count; k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (!PyBytes_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "scan: names are bytes");
            return NULL;
        }
        attrs[k].name = PyBytes_AS_STRING(name);
        attrs[k].len = PyBytes_GET_SIZE(name);
        attrs[k].type = types[k];
        if (strchr("sinbd", types[k]) == NULL || types[k] == '\0') {
            PyErr_Format(PyExc_ValueError, "scan: type %c", types[k]);
            return NULL;
        }
    }
    Py_buffer validity = {0}, offsets = {0}, data = {0};
    int has_validity = 0, has_offsets = 0, has_data = 0;
    PyObject *result = NULL, *ok = NULL;
    Buf value_offsets[MAX_NAMES], value_data[MAX_NAMES], value_valid[MAX_NAMES];
    Buf canon_offsets = {0}, canon_data = {0};
    memset(value_offsets, 0, sizeof value_offsets);
    memset(value_data, 0, sizeof value_data);
    memset(value_valid, 0, sizeof value_valid);
    if (validity_obj != Py_None) {
        if (PyObject_GetBuffer(validity_obj, &validity, PyBUF_SIMPLE) < 0) goto done;
        has_validity = 1;
    }
    if (n > 0) {
        if (PyObject_GetBuffer(offsets_obj, &offsets, PyBUF_SIMPLE) < 0) goto done;
        has_offsets = 1;
        if (data_obj != Py_None) {
            if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) goto done;
            has_data = 1;
        }
        if (offsets.len / 4 < offset + n + 1 || (has_validity && validity.len * 8 < offset + n)) {
            PyErr_SetString(PyExc_ValueError, "scan: an Arrow array shorter than its rows");
            goto done;
        }
    }
    if ((ok = PyBytes_FromStringAndSize(NULL, n)) == NULL) goto done;
    char *flags = PyBytes_AS_STRING(ok);
    Py_ssize_t accepted = 0;
    for (int k = 0; k < count; k++)
        if (put_i32(&value_offsets[k], 0) < 0) goto done;
    if (put_i32(&canon_offsets, 0) < 0) goto done;
    const unsigned char *start[MAX_NAMES], *stop[MAX_NAMES];
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t j = offset + i;
        flags[i] = 0;
        if (has_validity && !((((const unsigned char *)validity.buf)[j >> 3] >> (j & 7)) & 1))
            continue;
        int32_t a, b;
        memcpy(&a, (const char *)offsets.buf + 4 * j, 4);
        memcpy(&b, (const char *)offsets.buf + 4 * (j + 1), 4);
        if (a < 0 || b < a || b > (has_data ? data.len : 0)) {
            PyErr_SetString(PyExc_ValueError, "scan: Arrow offsets outside the data");
            goto done;
        }
        const unsigned char *s = (const unsigned char *)data.buf + a;
        if (!scan_text(s, s + (b - a), attrs, count, start, stop)) continue;
        if (code_points(s, b - a) > max_chars) continue;
        flags[i] = 1;
        /* the row's values, and its canonical text: {"a":1,"b":"x"} in name order */
        if (put(&canon_data, "{", 1) < 0) goto done;
        int first = 1;
        for (int k = 0; k < count; k++) {
            if ((accepted & 7) == 0 && put(&value_valid[k], "\0", 1) < 0) goto done;
            if (start[k] != NULL) {
                Py_ssize_t len = stop[k] - start[k];
                value_valid[k].p[accepted >> 3] |= (char)(1 << (accepted & 7));
                if (put(&value_data[k], start[k], len) < 0) goto done;
                if ((!first && put(&canon_data, ",", 1) < 0) || put(&canon_data, "\"", 1) < 0 ||
                    put(&canon_data, attrs[k].name, attrs[k].len) < 0 ||
                    put(&canon_data, "\":", 2) < 0 || put(&canon_data, start[k], len) < 0)
                    goto done;
                first = 0;
            }
            if (put_i32(&value_offsets[k], value_data[k].n) < 0) goto done;
        }
        if (put(&canon_data, "}", 1) < 0 || put_i32(&canon_offsets, canon_data.n) < 0) goto done;
        accepted++;
    }
    PyObject *values = PyTuple_New(count);
    if (values == NULL) goto done;
    for (int k = 0; k < count; k++) {
        PyObject *item = Py_BuildValue("(NNN)", bytes_of(&value_valid[k]),
                                       bytes_of(&value_offsets[k]), bytes_of(&value_data[k]));
        if (item == NULL) {
            Py_DECREF(values);
            goto done;
        }
        PyTuple_SET_ITEM(values, k, item);
    }
    result = Py_BuildValue("(ON(NN))", ok, values, bytes_of(&canon_offsets), bytes_of(&canon_data));
done:
    Py_XDECREF(ok);
    for (int k = 0; k < count; k++) {
        PyMem_Free(value_offsets[k].p);
        PyMem_Free(value_data[k].p);
        PyMem_Free(value_valid[k].p);
    }
    PyMem_Free(canon_offsets.p);
    PyMem_Free(canon_data.p);
    if (has_validity) PyBuffer_Release(&validity);
    if (has_offsets) PyBuffer_Release(&offsets);
    if (has_data) PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(n, texts, names, types, max_chars) -> (ok, values, canonical)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_attrscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__attrscan(void) { return PyModule_Create(&module); }
