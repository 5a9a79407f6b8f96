/* SQLite's bulk insert of ingest's Arrow columns, compiled: one prepared INSERT stepped once
   a row, its parameters bound straight from the Arrow buffers.

   Why: on SQLite the single writer is the limit of ingest, and `executemany` spends about a
   quarter of its time outside SQLite: a Python tuple a row built from the columns, then a type
   dispatch and a UTF-8 lookup for each of its 13 values. Here no Python object is made per row
   and the GIL is released for the whole loop (the writer's frame reader runs meanwhile).

   It runs on the Python connection's own sqlite3 handle, inside the transaction (and savepoint)
   that connection has open, so the rows commit or roll back with the batch's tree head exactly
   as executemany's would. What it stores is what executemany stores: str as TEXT (UTF-8
   checked, as the str would have been decoded), bytes as BLOB, int as INTEGER, None as NULL.
   The tests compare the two row for row.

   One function:

   insert(connection, sql, n, params) -> int | None
       params: one spec per "?" of sql, in order:
         (0, value)                               a constant: None, int, str or bytes
         (1, offset, validity, data)              an Arrow int64 array
         (2, offset, validity, offsets, data)     an Arrow string array (32-bit offsets)
         (3, offset, validity, offsets, data)     an Arrow binary array (32-bit offsets)
       Returns n, or None (nothing done: the caller runs executemany) when this cannot run
       safely: SQLite's functions not reachable in the library Python's sqlite3 uses, a
       connection that is not sqlite3.Connection on a CPython whose layout is known, or no
       transaction open. Raises sqlite3.IntegrityError (a constraint), sqlite3.OperationalError
       or sqlite3.DatabaseError as the sqlite3 module would, and ValueError for text that is
       not UTF-8 or buffers shorter than their rows; the caller's transaction then rolls back
       whatever rows were stepped.

   The sqlite3 handle: CPython has kept `sqlite3 *db` as the first field after PyObject_HEAD of
   its Connection object since pysqlite (2004) and has no public accessor for it; this builds
   only for the CPython versions checked (3.11 to 3.14). SQLite's functions are looked up in the
   `_sqlite3` module's own library (dlopen RTLD_NOLOAD of the module file, whose dependencies
   dlsym searches), so they are those of the very SQLite that opened the handle; building needs
   no sqlite3.h. Its version must equal the one the sqlite3 module reports.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "../ledger/utf8.h"

#ifndef _WIN32
#include <dlfcn.h>
#endif

#define KNOWN_LAYOUT (PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030F0000)

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef void (*destructor_fn)(void *);
#define SQLITE_STATIC ((destructor_fn)0)
#define SQLITE_TRANSIENT ((destructor_fn)-1)
enum { SQLITE_OK = 0, SQLITE_ROW = 100, SQLITE_DONE = 101 };

/* The part of CPython's Modules/_sqlite/connection.h this reads. */
typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

static struct {
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_parameter_count)(sqlite3_stmt *);
    int (*bind_int64)(sqlite3_stmt *, int, long long);
    int (*bind_null)(sqlite3_stmt *, int);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, destructor_fn);
    int (*bind_blob)(sqlite3_stmt *, int, const void *, int, destructor_fn);
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    int (*finalize)(sqlite3_stmt *);
    int (*get_autocommit)(sqlite3 *);
    int (*extended_errcode)(sqlite3 *);
    const char *(*errmsg)(sqlite3 *);
    const char *(*errstr)(int);
    int (*libversion_number)(void);
} api;
static int api_state; /* 0 not looked up yet, 1 found, -1 not available */

/* SQLite's functions from the library the sqlite3 module uses; 0 when found. */
static int find_api(void) {
#if defined(_WIN32) || !KNOWN_LAYOUT
    return -1;
#else
    if (api_state != 0) return api_state > 0 ? 0 : -1;
    api_state = -1;
    PyObject *module = PyImport_ImportModule("sqlite3");
    PyObject *ext = module ? PyImport_ImportModule("_sqlite3") : NULL;
    PyObject *path = ext ? PyObject_GetAttrString(ext, "__file__") : NULL;
    PyObject *info = module ? PyObject_GetAttrString(module, "sqlite_version_info") : NULL;
    long major = 0, minor = 0, patch = 0;
    const char *file = path && PyUnicode_Check(path) ? PyUnicode_AsUTF8(path) : NULL;
    int parsed = info && PyArg_ParseTuple(info, "lll", &major, &minor, &patch);
    void *lib = file && parsed ? dlopen(file, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) : NULL;
    Py_XDECREF(module);
    Py_XDECREF(ext);
    Py_XDECREF(path);
    Py_XDECREF(info);
    PyErr_Clear(); /* whatever failed above only means: not available */
    if (lib == NULL) return -1;
#define FIND(field, name)                                \
    *(void **)(&api.field) = dlsym(lib, "sqlite3_" name); \
    if (api.field == NULL) return -1;
    FIND(prepare_v2, "prepare_v2")
    FIND(bind_parameter_count, "bind_parameter_count")
    FIND(bind_int64, "bind_int64")
    FIND(bind_null, "bind_null")
    FIND(bind_text, "bind_text")
    FIND(bind_blob, "bind_blob")
    FIND(step, "step")
    FIND(reset, "reset")
    FIND(finalize, "finalize")
    FIND(get_autocommit, "get_autocommit")
    FIND(extended_errcode, "extended_errcode")
    FIND(errmsg, "errmsg")
    FIND(errstr, "errstr")
    FIND(libversion_number, "libversion_number")
#undef FIND
    if (api.libversion_number() != major * 1000000 + minor * 1000 + patch) return -1;
    api_state = 1;
    return 0;
#endif
}

/* One parameter's values: a constant, or an Arrow array read in place. */
enum { CONST = 0, INT64 = 1, TEXT = 2, BLOB = 3 };
typedef struct {
    int kind;
    Py_ssize_t offset;
    Py_buffer validity, offsets, data;
    int has_validity, has_offsets, has_data;
} Param;

static void release_param(Param *p) {
    if (p->has_validity) PyBuffer_Release(&p->validity);
    if (p->has_offsets) PyBuffer_Release(&p->offsets);
    if (p->has_data) PyBuffer_Release(&p->data);
    p->has_validity = p->has_offsets = p->has_data = 0;
}

static int get_buffer(PyObject *o, Py_buffer *b, int *has) {
    if (o == Py_None) return 0;
    if (PyObject_GetBuffer(o, b, PyBUF_SIMPLE) < 0) return -1;
    *has = 1;
    return 0;
}

/* Bind a constant once (it stays bound across resets); -1 with an exception set. */
static int bind_constant(sqlite3_stmt *stmt, int i, PyObject *value) {
    int rc;
    if (value == Py_None) rc = api.bind_null(stmt, i);
    else if (PyLong_CheckExact(value)) {
        long long v = PyLong_AsLongLong(value);
        if (v == -1 && PyErr_Occurred()) return -1;
        rc = api.bind_int64(stmt, i, v);
    } else if (PyUnicode_CheckExact(value)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(value, &n);
        if (s == NULL) return -1;
        if (n > INT_MAX) goto too_big;
        rc = api.bind_text(stmt, i, s, (int)n, SQLITE_TRANSIENT);
    } else if (PyBytes_CheckExact(value)) {
        if (PyBytes_GET_SIZE(value) > INT_MAX) goto too_big;
        rc = api.bind_blob(stmt, i, PyBytes_AS_STRING(value), (int)PyBytes_GET_SIZE(value),
                           SQLITE_TRANSIENT);
    } else {
        PyErr_Format(PyExc_TypeError, "insert: a constant of type %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_ValueError, "insert: binding parameter %d: %s", i, api.errstr(rc));
        return -1;
    }
    return 0;
too_big:
    PyErr_Format(PyExc_ValueError, "insert: parameter %d is too long", i);
    return -1;
}

/* Open one spec; a constant is bound here. -1 with an exception set. */
static int open_param(sqlite3_stmt *stmt, int i, PyObject *spec, Py_ssize_t n, Param *p) {
    memset(p, 0, sizeof *p);
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2) {
        PyErr_Format(PyExc_ValueError, "insert: parameter %d is not a spec tuple", i);
        return -1;
    }
    p->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    if (p->kind == CONST) return bind_constant(stmt, i, PyTuple_GET_ITEM(spec, 1));
    PyObject *validity, *offsets = Py_None, *data;
    if (p->kind == INT64) {
        if (!PyArg_ParseTuple(spec, "inOO", &p->kind, &p->offset, &validity, &data)) return -1;
    } else if (p->kind == TEXT || p->kind == BLOB) {
        if (!PyArg_ParseTuple(spec, "inOOO", &p->kind, &p->offset, &validity, &offsets, &data))
            return -1;
    } else {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "insert: parameter %d has kind %d", i, p->kind);
        return -1;
    }
    if (get_buffer(validity, &p->validity, &p->has_validity) < 0 ||
        get_buffer(offsets, &p->offsets, &p->has_offsets) < 0 ||
        get_buffer(data, &p->data, &p->has_data) < 0)
        return -1;
    Py_ssize_t end = p->offset + n;
    int short_values = p->kind == INT64 ? (!p->has_data || p->data.len / 8 < end)
                                        : (!p->has_offsets || p->offsets.len / 4 < end + 1);
    if (p->offset < 0 || short_values || (p->has_validity && p->validity.len * 8 < end)) {
        PyErr_Format(PyExc_ValueError, "insert: parameter %d: an Arrow array shorter than %zd rows",
                     i, n);
        return -1;
    }
    return 0;
}

/* What went wrong in the loop, reported once the GIL is held again. */
enum { STEPPED = 0, SQLITE_FAILED, BAD_UTF8, BAD_OFFSETS };

/* Bind row `row` of every array parameter: STEPPED, or what was wrong with it. */
static int bind_row(sqlite3_stmt *stmt, Param *params, int count, Py_ssize_t row, int *rc) {
    static const char empty[1] = "";
    for (int k = 0; k < count; k++) {
        const Param *p = &params[k];
        if (p->kind == CONST) continue;
        Py_ssize_t j = p->offset + row;
        if (p->has_validity &&
            !((((const unsigned char *)p->validity.buf)[j >> 3] >> (j & 7)) & 1)) {
            *rc = api.bind_null(stmt, k + 1);
        } else if (p->kind == INT64) {
            int64_t v;
            memcpy(&v, (const char *)p->data.buf + 8 * j, 8);
            *rc = api.bind_int64(stmt, k + 1, v);
        } else {
            int32_t start, stop;
            memcpy(&start, (const char *)p->offsets.buf + 4 * j, 4);
            memcpy(&stop, (const char *)p->offsets.buf + 4 * (j + 1), 4);
            Py_ssize_t size = p->has_data ? p->data.len : 0;
            if (start < 0 || stop < start || stop > size) return BAD_OFFSETS;
            const char *s = stop > start ? (const char *)p->data.buf + start : empty;
            if (p->kind == TEXT) {
                if (!utf8_ok((const unsigned char *)s, stop - start)) return BAD_UTF8;
                *rc = api.bind_text(stmt, k + 1, s, stop - start, SQLITE_STATIC);
            } else {
                *rc = api.bind_blob(stmt, k + 1, s, stop - start, SQLITE_STATIC);
            }
        }
        if (*rc != SQLITE_OK) return SQLITE_FAILED;
    }
    return STEPPED;
}

/* The sqlite3 module's exception for a primary result code (as its _pysqlite_seterror maps). */
static const char *error_name(int primary) {
    switch (primary) {
    case 2: case 12: return "InternalError"; /* INTERNAL, NOTFOUND */
    case 1: case 3: case 4: case 5: case 6: case 8: case 9: case 10: case 13: case 14:
    case 15: case 16: case 17:
        return "OperationalError"; /* ERROR, PERM, ABORT, BUSY, LOCKED, READONLY, INTERRUPT,
                                      IOERR, FULL, CANTOPEN, PROTOCOL, EMPTY, SCHEMA */
    case 18: return "DataError";                     /* TOOBIG */
    case 19: case 20: return "IntegrityError";       /* CONSTRAINT, MISMATCH */
    case 21: case 25: return "InterfaceError";       /* MISUSE, RANGE */
    default: return "DatabaseError";                 /* CORRUPT, NOTADB, ... */
    }
}

/* Raise what SQLite said as the sqlite3 module's own exception for it. */
static void raise_sqlite(sqlite3 *db) {
    int code = api.extended_errcode(db);
    if ((code & 0xff) == 7) { /* NOMEM */
        PyErr_NoMemory();
        return;
    }
    const char *name = error_name(code & 0xff);
    PyObject *module = PyImport_ImportModule("sqlite3");
    PyObject *kind = module ? PyObject_GetAttrString(module, name) : NULL;
    Py_XDECREF(module);
    if (kind == NULL) return;
    PyObject *error = PyObject_CallFunction(kind, "s", api.errmsg(db));
    Py_DECREF(kind);
    if (error == NULL) return;
    PyObject *number = PyLong_FromLong(code);
    if (number != NULL) {
        PyObject_SetAttrString(error, "sqlite_errorcode", number);
        Py_DECREF(number);
    }
    PyErr_SetObject((PyObject *)Py_TYPE(error), error);
    Py_DECREF(error);
}

static PyObject *insert(PyObject *self, PyObject *args) {
    PyObject *connection, *specs, *result = NULL;
    const char *sql;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OsnO!:insert", &connection, &sql, &n, &PyTuple_Type, &specs))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "insert: a negative row count");
        return NULL;
    }
    PyObject *module = PyImport_ImportModule("sqlite3");
    PyObject *kind = module ? PyObject_GetAttrString(module, "Connection") : NULL;
    Py_XDECREF(module);
    if (kind == NULL) return NULL;
    int is_connection = PyObject_IsInstance(connection, kind);
    Py_DECREF(kind);
    if (is_connection < 0) return NULL;
    sqlite3 *db = is_connection ? ((ConnectionHead *)connection)->db : NULL;
    if (!is_connection || db == NULL || find_api() < 0 || api.get_autocommit(db))
        Py_RETURN_NONE; /* not ours to write through, or not inside a transaction */

    sqlite3_stmt *stmt = NULL;
    if (api.prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK || stmt == NULL) {
        if (stmt == NULL && !PyErr_Occurred()) raise_sqlite(db);
        if (stmt != NULL) api.finalize(stmt);
        return NULL;
    }
    int count = api.bind_parameter_count(stmt);
    Param *params = PyMem_Calloc((size_t)(count > 0 ? count : 1), sizeof(Param));
    int opened = 0;
    if (params == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (PyTuple_GET_SIZE(specs) != count) {
        PyErr_Format(PyExc_ValueError, "insert: %d parameters in the statement, %zd specs",
                     count, PyTuple_GET_SIZE(specs));
        goto done;
    }
    for (; opened < count; opened++)
        if (open_param(stmt, opened + 1, PyTuple_GET_ITEM(specs, opened), n, &params[opened]) <
            0) {
            release_param(&params[opened]);
            goto done;
        }

    int failure = STEPPED, rc = SQLITE_OK;
    Py_ssize_t row = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; row < n; row++) {
        failure = bind_row(stmt, params, count, row, &rc);
        if (failure != STEPPED) break;
        rc = api.step(stmt);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) { /* the error is read before a reset */
            failure = SQLITE_FAILED;
            break;
        }
        api.reset(stmt);
    }
    Py_END_ALLOW_THREADS
    if (failure == SQLITE_FAILED) raise_sqlite(db);
    else if (failure == BAD_UTF8)
        PyErr_Format(PyExc_ValueError, "insert: row %zd holds text that is not UTF-8", row);
    else if (failure == BAD_OFFSETS)
        PyErr_Format(PyExc_ValueError, "insert: row %zd: Arrow offsets outside the data", row);
    else result = PyLong_FromSsize_t(n);
done:
    for (int k = 0; k < opened; k++) release_param(&params[k]);
    PyMem_Free(params);
    api.finalize(stmt);
    return result;
}

static PyMethodDef methods[] = {
    {"insert", insert, METH_VARARGS, "insert(connection, sql, n, params) -> int | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sqlitebulk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sqlitebulk(void) { return PyModule_Create(&module); }
