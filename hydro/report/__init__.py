"""Outputs people read: warning tables, GeoJSON and maps, the cycle report (plots and HTML)."""
