"""Figures at a glance: charts, key problems and exports, computed from the reports' history."""
