"""um-chaos-harness: chaos experiments with safety checks for Unified Margin derivatives platforms."""

__version__ = "0.1.0"
