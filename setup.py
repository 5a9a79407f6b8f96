"""Only the optional C extension lives here; everything else is in pyproject.toml.

`credence.ledger._leafhash` builds and hashes verify's record leaves in C
(see its source for why). It is optional: without a C compiler or Python's
headers the build skips it and `credence.ledger.leafhash` runs the same
computation in Python, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "credence.ledger._leafhash",
            sources=["credence/ledger/_leafhash.c"],
            depends=["credence/ledger/utf8.h"],
            optional=True,
        ),
        Extension(
            "credence.ingest._attrscan",
            sources=["credence/ingest/_attrscan.c"],
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
