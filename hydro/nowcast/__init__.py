"""Rainfall nowcasting: quality control, motion, S-PROG and STEPS-style ensembles (registry kind "nowcast")."""
