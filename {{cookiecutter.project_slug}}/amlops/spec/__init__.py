"""Azure ML's file formats (job, component, environment, sweep, pipeline), read and checked."""
