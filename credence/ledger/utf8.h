/* UTF-8 as Python's strict decoder takes it, shared by the C extensions that read Arrow
   text in place (credence/ledger/_leafhash.c, credence/store/_sqlitebulk.c). */
#ifndef CREDENCE_UTF8_H
#define CREDENCE_UTF8_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Whether s[0:n] is UTF-8 as Python's strict decoder takes it: no overlong forms, no
   surrogates, nothing above U+10FFFF. (What to_pylist() would have decoded.) */
static int utf8_ok(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { /* ASCII: then eight bytes at a time while they stay ASCII */
            uint64_t word;
            i++;
            while (n - i >= 8 && (memcpy(&word, s + i, 8), (word & 0x8080808080808080ULL) == 0))
                i += 8;
            continue;
        }
        int more;
        unsigned char lo = 0x80, hi = 0xbf; /* the range of the byte after the first */
        if (c >= 0xc2 && c <= 0xdf) more = 1;
        else if (c == 0xe0) more = 2, lo = 0xa0;
        else if (c == 0xed) more = 2, hi = 0x9f;
        else if (c >= 0xe1 && c <= 0xef) more = 2;
        else if (c == 0xf0) more = 3, lo = 0x90;
        else if (c == 0xf4) more = 3, hi = 0x8f;
        else if (c >= 0xf1 && c <= 0xf3) more = 3;
        else return 0;
        if (n - i <= more || s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (int k = 2; k <= more; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        i += more + 1;
    }
    return 1;
}

#endif
