"""The identity model on Spark: the same Splink settings, run by Splink's SparkAPI.

`credence identity resolve --engine spark` scores candidate pairs here
instead of in DuckDB; the settings (credence.identity.model.settings), the
fixed m and u, and the hard rules after scoring are the same objects, so the
two engines give the same links with the same evidence (tests/identity,
marker `spark`). Splink compares names with Jaro-Winkler and dates with
Damerau-Levenshtein through Java UDFs in a jar it ships; the jar must be on
the session's class path when the session starts, so the session is made
here with it (`spark.jars`). PySpark is optional (`credence[spark]`), so
nothing imports it at module level. The session is not the scoring engine's
(credence.engines.spark_session), which needs no jar.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from credence.engines.spark_session import spark_available

__all__ = ["MISSING", "predict", "spark_available", "spark_session"]

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MISSING = (
    "identity resolution on Spark needs PySpark: install credence[spark] "
    "(pip install 'credence[spark]')"
)
# Candidate pairs are few beside the records of a scoring run: a few shuffle partitions
# keep a local run quick, and Splink repartitions its big intermediate tables itself.
SHUFFLE_PARTITIONS = 8


def spark_session(master: str = "local[*]", memory: str = "2g") -> SparkSession:
    """The process's Spark session, with Splink's similarity jar on its class path.

    `master` is CREDENCE_SPARK_MASTER (local[*] runs Spark in this process on
    every core). A session already running without the jar cannot take it
    (jars are read at start), so that is refused in words rather than left to
    fail later as an unknown SQL function.
    """
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    jar = similarity_jar_location()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(master)
        .appName("credence-identity")
        .config("spark.jars", jar)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    if os.path.basename(jar) not in (session.conf.get("spark.jars", "") or ""):
        raise RuntimeError(
            "a Spark session without Splink's similarity jar is already running in this "
            f"process; start it with spark.jars={jar}"
        )
    return session


def predict(
    session: SparkSession, records: pa.Table, references: pa.Table, splink_settings: Any
) -> pa.Table:
    """Splink's blocked, scored candidate pairs on Spark, as an Arrow table.

    Intermediate tables are persisted (memory, then local disk) rather than
    written as Parquet checkpoints, which would need a checkpoint directory;
    they and the inputs' views are dropped before returning.
    """
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType
    from splink import Linker
    from splink.backends.spark import SparkAPI

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    schema = StructType(
        [
            StructField(
                f.name, ArrayType(StringType()) if pa.types.is_list(f.type) else StringType()
            )
            for f in records.schema
        ]
    )
    api = SparkAPI(spark_session=session, break_lineage_method="persist")  # type: ignore[no-untyped-call]
    frames = [
        session.createDataFrame(table.to_pylist(), schema=schema) for table in (records, references)
    ]
    try:
        left = api.register(frames[0], dataset_display_name=_NAMES[0])
        right = api.register(frames[1], dataset_display_name=_NAMES[1])
        linker = Linker([left, right], splink_settings)
        found = linker.inference.predict(warning_mode="never")
        return pa.Table.from_pylist(found.as_record_list())
    finally:  # persons and organisations run in turn in one session: leave it clean
        api.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]
        for name in _NAMES:
            session.catalog.dropTempView(name)


_NAMES = ("credence_records", "credence_references")  # as model._pairs reads them
