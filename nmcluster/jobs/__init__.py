"""Jobs: the platform job format (JobSpec), staging, the job store, the runner and the service API."""
