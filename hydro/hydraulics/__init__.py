"""One-dimensional hydrodynamics on surveyed cross-sections (Saint-Venant, Preissmann scheme).

``sections``: cross-sections, subdivided conveyance and the property tables; ``steady``: the standard-step
profile; ``unsteady``: the Preissmann solver with its boundaries (and its saved state, for restarts);
``network``: reaches joined at junctions, solved together; ``network_coupling``: main stems in the twin.
See docs/hydraulics.md.
"""
