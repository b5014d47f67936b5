"""calsync: keeps 1on1 invites stocked with an agenda and warns when their cadence drifts."""

__version__ = "0.1.0"
