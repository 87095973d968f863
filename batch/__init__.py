"""Classify archives offline with a model bundle: on all cores of one machine, or on Apache Spark.

    python -m batch --model models/current --in archive.jsonl --out topics.jsonl
    python -m batch --engine spark --model models/current --in archive/ --out topics/

Both engines load the bundle with the service's verifying loader
(:meth:`runtime.model.TopicModel.load`), predict with the same path and shape
every answer with :meth:`~runtime.model.TopicModel.answer`, so an article gets
the same topics and scores here as from ``POST /v1/classify``.

**local** (the default) reads JSON Lines (``.jsonl``, ``.jsonl.gz``) or Parquet
(``.parquet``), a file or a folder of them, and writes one JSON line per input
article, in input order: ``{"line", "id", "topics", "scores", "model"}``, or
``{"line", "id", "error"}`` for an article that cannot be classified (bad JSON,
no text). Chunks of articles go to one process per core; only a few chunks are
in flight at a time, so memory stays flat on any input size. Interrupted, the
same command resumes after the last complete output line; it refuses to resume
a file written by another model version (``--restart`` starts over).

**spark** runs the same classification as a Spark job (``mapInPandas``). The
bundle folder is shipped once to each executor (``SparkContext.addFile``) and
verified and loaded there once per Python worker. Input is JSON Lines or
Parquet with ``id``, ``text`` and optional ``title``; the output folder (JSON
Lines, or Parquet with ``--format parquet``) holds one row per article, keyed by
``id``, with ``topics``, ``scores``, ``model`` and ``error``. Without
``--master`` it runs in local mode on every core; under ``spark-submit`` it
uses the cluster that was given.
"""
