"""Pipeline files (pipelines/<name>.yaml) and running them locally: the DAG
scheduler, step reuse, progress, pipeline-graph and step-local."""
