"""Azure ML's file formats (job, component, environment, sweep, pipeline, parallel, batch
deployment), read and checked."""
