"""The Spark session the `spark` engine runs in: local by default, a cluster if told.

PySpark is an optional extra (`pip install 'credence[spark]'`), so nothing
here imports it at module level: `spark_available` lets a command say so in
one line instead of a traceback. The session is made once per process and
reused (starting a JVM costs seconds), with the UI off and few shuffle
partitions, which suit both the tests and a single machine; a cluster's own
defaults (`spark-defaults.conf`) apply to anything not set here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MISSING = "the spark engine needs PySpark: install credence[spark] (pip install 'credence[spark]')"
# Spark packs small files into one input partition unless opening a file costs as much as a
# partition holds: then every Parquet file of the snapshot is its own partition, so an input
# partition never mixes two buckets (a file holds one bucket's records).
_FILE_BYTES = str(512 * 1024 * 1024)


def spark_available() -> bool:
    """Whether PySpark can be imported (without importing it)."""
    return importlib.util.find_spec("pyspark") is not None


def spark_session(
    master: str = "local[*]", memory: str = "1g", shuffle_partitions: int = 8
) -> SparkSession:
    """The process's Spark session (made on first use, then the same one).

    `master` is `CREDENCE_SPARK_MASTER`; the executors run this Python, so a
    cluster needs credence installed on its workers.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("credence")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.files.maxPartitionBytes", _FILE_BYTES)
        .config("spark.sql.files.openCostInBytes", _FILE_BYTES)
        .config("spark.sql.session.timeZone", "UTC")
        # Integers and strings only: ANSI mode would only change errors, never results,
        # but stated here so a cluster's default cannot make two runs differ.
        .config("spark.sql.ansi.enabled", "false")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
