"""axops: an on-premises LLM Ops platform."""

__version__ = "0.1.0"
