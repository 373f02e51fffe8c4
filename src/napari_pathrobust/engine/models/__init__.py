"""Compact torch networks shipped with the plugin, and their weight files."""
