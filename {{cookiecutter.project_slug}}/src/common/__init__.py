"""Code shared by every experiment; importable as `common` locally and in Azure ML."""
