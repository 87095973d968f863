"""The model runtime: what loading and scoring a bundle needs, and nothing that trains or serves.

``runtime.bundle`` reads, verifies and publishes bundles; ``runtime.model``
loads one into a :class:`~runtime.model.TopicModel`; ``runtime.scorer`` (with
the compiled ``runtime.scorer_c``) computes what the pipeline computes,
faster; ``runtime.articles`` says what an article is; ``runtime.estimators``
defines the classes bundles pickle. The service (``service/``), the trainer
(``training/``) and the offline batch (``batch/``) import this package; it
imports none of them (``tests/test_layers.py``).
"""
