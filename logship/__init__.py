"""logship: follow every container's logs through the Docker Engine API and ship them without loss."""

__version__ = "0.1.0"
