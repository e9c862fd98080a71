"""Azure ML's file formats (job, component, environment, sweep, pipeline, parallel, batch,
endpoint and deployment), read and checked."""
