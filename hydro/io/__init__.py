"""Readers and writers: NWM RouteLink/LAKEPARM/CHRTOUT, CF NetCDF network and outputs."""
