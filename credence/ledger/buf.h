/* A growable byte buffer for the C extensions that build bytes a record at a time
   (credence/ledger/_leafhash.c, credence/ingest/_attrscan.c). */
#ifndef CREDENCE_BUF_H
#define CREDENCE_BUF_H

#include <Python.h>
#include <string.h>

typedef struct {
    char *p;
    Py_ssize_t n, cap;
} Buf;

/* Room for `extra` more bytes; -1 with MemoryError set. */
static int reserve(Buf *b, Py_ssize_t extra) {
    if (b->n + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int put(Buf *b, const void *s, Py_ssize_t n) {
    if (reserve(b, n) < 0) return -1;
    memcpy(b->p + b->n, s, (size_t)n);
    b->n += n;
    return 0;
}

#endif
