"""Fitting and evaluation: what builds the shipped reader files from PIAF `train`, with
paths as arguments. Nothing here runs when answering."""
