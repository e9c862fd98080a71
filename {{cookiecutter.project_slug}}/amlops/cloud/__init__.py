"""The Azure ML targets (job, pipeline, step, validate). Only this package imports Azure SDKs,
and only inside functions, so the local targets never pay for them."""
