"""Running pipelines (pipelines/<name>.yaml, read by amlops/spec/) locally: the DAG
scheduler, step reuse, progress, pipeline-graph and step-local."""
