"""One-dimensional hydrodynamics on surveyed cross-sections (Saint-Venant, Preissmann scheme).

``sections``: cross-sections, subdivided conveyance and the property tables; ``steady``: the standard-step
profile; ``unsteady``: the Preissmann solver with its boundaries. See docs/hydraulics.md.
"""
