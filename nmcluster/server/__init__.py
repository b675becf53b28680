"""The platform server: the job-queue REST API (``nmcluster serve``), its Job Manager pages and the
provider bridge (``nmcluster provider run``).  FastAPI and uvicorn come with the ``server`` extra."""
