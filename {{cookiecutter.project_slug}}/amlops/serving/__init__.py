"""Local online endpoints: `make serve`, `make invoke`, `make endpoint-test`."""
