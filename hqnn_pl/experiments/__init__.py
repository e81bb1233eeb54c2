"""Tools behind the hqnn-pl-* console scripts (robustness, comparison)."""
