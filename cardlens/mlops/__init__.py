"""Training pipeline, promotion gate and model registry (issue #10).

- :mod:`cardlens.mlops.cache`: content-addressed step runner (no-op re-runs, resume after a failure);
- :mod:`cardlens.mlops.steps`: the cardlens chain (synth → train → evaluate → package → export →
  bench → validate → register) and :func:`~cardlens.mlops.steps.run_pipeline`;
- :mod:`cardlens.mlops.gate`: the promotion gate, a pure function of metric dicts;
- :mod:`cardlens.mlops.registry`: MLflow tracking and model registry (local store by default);
- ``configs/default.yaml`` (the shipped models' recipe) and ``configs/tiny.yaml`` (seconds, for tests).

Heavy imports (mlflow, torch, ultralytics) happen inside functions.
"""
