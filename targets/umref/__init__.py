"""umref: the reference Unified Margin exchange the harness runs against (with bug switches)."""
