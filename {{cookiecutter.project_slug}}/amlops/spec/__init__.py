"""Azure ML's file formats (job, component, environment, sweep, pipeline, endpoint), read and
checked."""
