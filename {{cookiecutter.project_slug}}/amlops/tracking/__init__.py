"""Tracking of local runs with MLflow, with nothing for the user to start.

Where runs are recorded:
- by default, an MLflow *file store* under `.runs/mlruns` (`file://` URI). amlops
  creates the experiment and the run on the host before the command starts and
  hands the run to it the way Azure ML does (MLFLOW_TRACKING_URI, MLFLOW_RUN_ID,
  MLFLOW_EXPERIMENT_ID/NAME), so the script's own `mlflow.log_metric(...)` lands in
  that run, and records the outcome after the command ends.
- with MLFLOW_TRACKING_URI set (config.env, .env or the environment) to an
  http(s) MLflow server, the same happens there through MLflow's REST API.
- any other URI (azureml://, databricks, sqlite:...) reaches the run unchanged;
  amlops then cannot create the run itself (one notice line says so).

Why MLflow's file store: it is the one store both runtimes can write without a
server. The experiments' images ship `mlflow-skinny`, which has no SQLAlchemy, so it
cannot open a `sqlite://` store (MLflow 3.7's default); a tracking server would need
full MLflow (~850 MB) on the host and a daemon to keep alive. The venv writes the
files directly and a container writes them through a bind mount of `.runs/mlruns` at
the same absolute path, so the artifact URIs it records are valid on the host too.
MLflow 3 opens a file store only with MLFLOW_ALLOW_FILE_STORE=true, which amlops sets.
amlops writes its part (experiment, run, params, tags, status, relayed metrics)
through MLflow's own FileStore (store.py), imported only when a run is tracked;
`make ui` serves the store with the real MLflow UI. TRACKING=0 turns it all off.
"""
