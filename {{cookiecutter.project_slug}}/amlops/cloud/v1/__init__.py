"""The Azure ML SDK v1 backend (azureml-core, azureml-pipeline), chosen with AML_SDK=v1."""
