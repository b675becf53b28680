"""``from nmpi.nmpi_user import Client`` works too (the platform package's module layout)."""

from nmcluster.client import Client  # noqa: F401
