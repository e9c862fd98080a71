"""Azure ML's file formats (job, component, environment, sweep, pipeline, endpoint and
deployment), read and checked."""
