"""Only the optional C extensions live here; everything else is in pyproject.toml.

Four small extensions, each the compiled form of a hot loop whose Python
version stays the reference and the fallback (see each source for why):
`credence.ledger._leafhash` builds and hashes ledger leaves and Merkle
subtrees (verify, ingest's sealing); `credence.store._sqlitebulk` binds
ingest's Arrow columns to one prepared SQLite INSERT; `credence.ingest._attrscan`
scans attribute texts in one pass; `credence.engines._linebuild` writes the
batch engine's JSON lines from Arrow columns. All are optional: without a C compiler or
Python's headers the build skips them and the same computations run in
Python, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "credence.ledger._leafhash",
            sources=["credence/ledger/_leafhash.c"],
            depends=["credence/ledger/buf.h", "credence/ledger/utf8.h"],
            optional=True,
        ),
        Extension(
            "credence.ingest._attrscan",
            sources=["credence/ingest/_attrscan.c"],
            depends=["credence/ledger/buf.h"],
            optional=True,
        ),
        Extension(
            "credence.engines._linebuild",
            sources=["credence/engines/_linebuild.c"],
            depends=["credence/ledger/buf.h"],
            optional=True,
        ),
        Extension(
            "credence.store._sqlitebulk",
            sources=["credence/store/_sqlitebulk.c"],
            depends=["credence/ledger/utf8.h"],
            optional=True,
        ),
    ]
)
