"""reach-server: a self-hostable server for the Reach Partner Resources API."""

__version__ = "0.1.0"
