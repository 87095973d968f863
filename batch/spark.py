"""The Spark engine: the same classification as a Spark job (``mapInPandas``), the bundle shipped to executors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from batch.records import BatchError, classify_records, read_article
from runtime.bundle import signing_key_from_environment
from runtime.model import TopicModel


SPARK_SCHEMA = ("id string, topics array<struct<label:string,score:double>>, scores map<string,double>, "
                "model struct<version:string>, language string, language_supported boolean, error string")
_spark_models: dict[str, TopicModel] = {}


def _spark_model(folder_name: str) -> TopicModel:
    """Verify and load the shipped bundle once per Python worker."""
    if folder_name not in _spark_models:
        from pyspark import SparkFiles

        _spark_models[folder_name] = TopicModel.load(Path(SparkFiles.get(folder_name)), signing_key_from_environment())
    return _spark_models[folder_name]


def _spark_classifier(folder_name: str, threshold: float | None, top_k: int | None):
    def classify(frames):
        import pandas as pd

        model = _spark_model(folder_name)
        for frame in frames:
            records = frame.to_dict("records")
            for record in records:  # Spark gives missing values as None or NaN
                for key, value in list(record.items()):
                    if value is None or (isinstance(value, float) and value != value):
                        del record[key]
            answers = classify_records(model, records, [read_article(r) for r in records], threshold, top_k)
            yield pd.DataFrame({
                "id": [None if a["id"] is None else str(a["id"]) for a in answers],
                "topics": [a.get("topics") for a in answers],
                "scores": [a.get("scores") for a in answers],
                "model": [a.get("model") for a in answers],
                "language": [a.get("language") for a in answers],
                "language_supported": [a.get("language_supported") for a in answers],
                "error": [a.get("error") for a in answers],
            })
    return classify


def run_spark(model: TopicModel, source: str, out: str, *, master: str | None = None, output_format: str = "json",
              threshold: float | None = None, top_k: int | None = None, overwrite: bool = False,
              input_format: str | None = None) -> int:
    """Classify ``source`` into the ``out`` folder with Spark; return the number of articles."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BatchError("the Spark engine needs pyspark: pip install -c requirements.txt '.[spark]'") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter in local mode
    builder = SparkSession.builder.appName("topics-batch").config("spark.ui.showConsoleProgress", "false")
    # spark-submit sets SPARK_HOME and passes its own master; anywhere else, default to local mode.
    under_submit = bool(os.environ.get("SPARK_HOME")) or "spark.master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    if master or not under_submit:
        builder = builder.master(master or "local[*]")
    spark = builder.getOrCreate()
    from pyspark.errors import PySparkException

    try:
        folder = Path(model.path)
        spark.sparkContext.addFile(str(folder), recursive=True)
        fmt = input_format or ("parquet" if str(source).rstrip("/").endswith(".parquet") or _holds_parquet(source)
                               else "json")
        if fmt == "parquet":
            frame = spark.read.parquet(source)
        else:
            frame = spark.read.schema("id string, title string, text string").json(source)
        if "id" not in frame.columns or "text" not in frame.columns:
            raise BatchError(f"{source}: Spark input needs 'id' and 'text' fields (found {sorted(frame.columns)})")
        columns = [c for c in ("id", "title", "text") if c in frame.columns]
        frame = frame.select(*[frame[c].cast("string") for c in columns])
        result = frame.mapInPandas(_spark_classifier(folder.name, threshold, top_k), SPARK_SCHEMA)
        writer = result.write.mode("overwrite" if overwrite else "errorifexists")
        writer.parquet(out) if output_format == "parquet" else writer.json(out)
        # Count what was written (cheaply: Parquet footers, or lines of text).
        return spark.read.parquet(out).count() if output_format == "parquet" else spark.read.text(out).count()
    except PySparkException as exc:  # a missing input, an existing output, a failed task: one line, no trace
        raise BatchError(str(exc).strip().splitlines()[0]) from None
    finally:
        spark.stop()


def _holds_parquet(source: str) -> bool:
    path = Path(source)
    return path.is_dir() and any(p.suffix == ".parquet" for p in path.iterdir())
