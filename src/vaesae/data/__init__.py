"""Datasets: the canonical HDF5 layout, procedural dSprites and Shapes3D, and the seeded splits."""
