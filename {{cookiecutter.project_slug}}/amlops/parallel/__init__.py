"""Local runs of Azure ML's parallel work: parallel jobs and nodes, batch model deployments
(driver.py is the stdlib-only driver staged into each run's code root)."""
